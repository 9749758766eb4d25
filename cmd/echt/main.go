// Command echt is the echt server, admin CLI and end-user agent.
package main

import (
	"context"
	"os"

	"github.com/echt-dev/echt/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
