// Command hello is the parity corpus's ko program.
package main

import (
	"fmt"

	"example.com/parity/internal/greet"
)

var version = "dev"

func main() { fmt.Println(greet.Hello(), version) }
