package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/joho/godotenv"
)

// EnvFileName is the file of KEY=VALUE lines Skaffold reads from the working
// directory at start-up (constants.SkaffoldEnvFile), before any template is
// expanded.
const EnvFileName = "skaffold.env"

// ReadEnvFile reads dir/skaffold.env with Skaffold's parser (godotenv: `#`
// comments, optional `export`, quoted values). A missing file is no error
// and gives no variables.
func ReadEnvFile(dir string) (map[string]string, error) {
	path := filepath.Join(dir, EnvFileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", EnvFileName, err)
	}
	vars, err := godotenv.UnmarshalBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; write one KEY=VALUE per line", EnvFileName, err)
	}
	return vars, nil
}

// withEnvFile returns env plus the variables of the env file that env does
// not set (like godotenv.Load, the file never overrides the environment),
// and those added variables.
func withEnvFile(env, file map[string]string) (merged, added map[string]string) {
	if len(file) == 0 {
		return env, nil
	}
	merged = make(map[string]string, len(env)+len(file))
	added = map[string]string{}
	for k, v := range env {
		merged[k] = v
	}
	for k, v := range file {
		if _, set := env[k]; !set {
			merged[k] = v
			added[k] = v
		}
	}
	return merged, added
}
