// Command wxsub-local runs the whole of wxsub on this machine (`make run`):
// an in-memory DynamoDB-compatible server, the WeChat simulator, every route
// of template.yaml and the schedules, with no AWS account and no Docker.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/wxsub/wxsub/shared/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := localstack.Start(ctx, localstack.Options{Getenv: os.Getenv, LogOutput: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wxsub is running locally.\n\n  API        %s\n", s.URL)
	if s.SimURL != "" {
		fmt.Printf("  simulator  %s  (appid %s, %s)\n", s.SimURL, s.Config.AppID, s.Config.AppKind)
	}
	fmt.Printf("  admin key  %s  (server routes: Authorization: Bearer <admin key>)\n", s.AdminKey)
	if s.DB != nil {
		fmt.Printf("  DynamoDB   %s  (in memory, table %s)\n", s.DB.URL, s.Config.Table)
	}
	if w := s.WalkThrough(); w != "" {
		fmt.Printf("\nPaste this into another terminal for a tour:\n\n%s\n", w)
	}
	fmt.Println("Logs follow on stderr. Ctrl-C stops.")
	<-ctx.Done()
	if err := s.Close(); err != nil {
		log.Print(err)
	}
}
