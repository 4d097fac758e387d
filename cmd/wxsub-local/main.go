// Command wxsub-local runs the whole of wxsub on this machine (`make run`):
// an in-memory DynamoDB-compatible server, the WeChat simulator, every route
// of template.yaml and the schedules, with no AWS account and no Docker.
//
// Logs are short text lines and the metrics one summary line a minute
// (WXSUB_LOG_FORMAT=text, the default); WXSUB_LOG_FORMAT=json prints them
// as the functions do in AWS (JSON lines, and EMF lines for the metrics).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wxsub/wxsub/dev/devlog"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/shared/backend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := localstack.Options{Getenv: os.Getenv, LogOutput: os.Stderr}
	var summary *devlog.Summary
	switch f := os.Getenv("WXSUB_LOG_FORMAT"); f {
	case "", "text":
		o.LogHandler = func(w io.Writer, opts *slog.HandlerOptions) slog.Handler { return devlog.NewHandler(w, opts) }
		summary = devlog.NewSummary(backend.NewLoggerWith(os.Stderr, o.LogHandler))
		o.MetricsOutput = summary
	case "json":
	default:
		log.Fatalf("WXSUB_LOG_FORMAT is %q: use text or json", f)
	}
	s, err := localstack.Start(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	if summary != nil {
		go summary.Run(ctx.Done(), time.Minute)
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
	fmt.Println("Logs follow on stderr (WXSUB_LOG_FORMAT=json for AWS's format). Ctrl-C stops.")
	<-ctx.Done()
	if err := s.Close(); err != nil {
		log.Print(err)
	}
}
