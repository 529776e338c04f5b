// Package cleanup deletes what skiff's builds left behind and nothing
// still needs: Local prunes the local layer store and cache by age and size
// under the lock builds share; Registry deletes, in an application's
// repositories, image tags and cache entries that no live environment runs,
// no release record or release artifact references and git history no
// longer reaches. Both return what they removed (or would remove, with
// DryRun) and print nothing.
package cleanup
