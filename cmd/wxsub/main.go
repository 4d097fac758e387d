// Command wxsub calls a wxsub stack's server routes from a terminal: send,
// message, user, broadcast, templates, quota. See `wxsub --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/wxsub/wxsub/cmd/wxsub/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := cli.New(os.Getenv, os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, cli.Explain(err))
		os.Exit(1)
	}
}
