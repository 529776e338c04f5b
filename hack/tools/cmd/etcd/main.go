// Command etcd is etcd's server, built from go.etcd.io/etcd/server/v3 so the
// sandbox needs no download: kwokctl runs it through --etcd-binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
