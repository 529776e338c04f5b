// Command hello prints a greeting built from an internal package, and the
// version its linker flags set; the ko tests run it from the built image.
package main

import (
	"fmt"
	"os"

	"example.com/hello/internal/greet"
)

var version = "dev"

func main() {
	data, _ := os.ReadFile(os.Getenv("KO_DATA_PATH") + "/motd")
	fmt.Printf("%s (version %s, mode %s, motd %q)\n", greet.Hello("ko"), version, os.Getenv("HELLO_MODE"), string(data))
}
