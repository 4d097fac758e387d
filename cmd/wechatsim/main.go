// Command wechatsim serves a simulated WeChat server for one mini-program:
// tokens, jscode2session, subscribe/send, templates, quotas and signed event
// pushes, plus /__sim/ control endpoints. See package wechatsim.
//
// Usage:
//
//	wechatsim [-addr 127.0.0.1:3001] [-push-url URL] [-push-format xml|json] [-push-secure] [-send-latency 0s]
//
// WECHATSIM_ADDR sets the default address; WECHAT_APPID, WECHAT_SECRET,
// WECHAT_PUSH_TOKEN and WECHAT_ENCODING_AES_KEY replace generated values.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/wxpush"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wechatsim:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("WECHATSIM_ADDR", "127.0.0.1:3001"), "listen address (env WECHATSIM_ADDR)")
	pushURL := flag.String("push-url", "", "where to push events; empty: no pushes")
	pushFormat := flag.String("push-format", "xml", "push data format: xml or json")
	pushSecure := flag.Bool("push-secure", false, "push in secure mode (AES)")
	latency := flag.Duration("send-latency", 0, "how long a subscribe/send is in flight (a second send to the user meanwhile gets 43108)")
	kind := flag.String("kind", envOr("WECHAT_APP_KIND", wechatsim.KindMiniprogram), "the app played: miniprogram or official_account (env WECHAT_APP_KIND)")
	flag.Parse()
	if *kind != wechatsim.KindMiniprogram && *kind != wechatsim.KindOfficialAccount {
		return fmt.Errorf("-kind %q: want miniprogram or official_account", *kind)
	}

	format := wxpush.Format(*pushFormat)
	if format != wxpush.XML && format != wxpush.JSON {
		return fmt.Errorf("-push-format %q: want xml or json", *pushFormat)
	}
	cfg := wechatsim.Config{
		AppID:          os.Getenv("WECHAT_APPID"),
		Secret:         os.Getenv("WECHAT_SECRET"),
		PushToken:      os.Getenv("WECHAT_PUSH_TOKEN"),
		EncodingAESKey: os.Getenv("WECHAT_ENCODING_AES_KEY"),
		PushURL:        *pushURL,
		PushFormat:     format,
		PushSecure:     *pushSecure,
		SendLatency:    *latency,
		Kind:           *kind,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if cfg.EncodingAESKey != "" {
		if _, err := wxpush.NewCipher(cfg.EncodingAESKey, "wx0000000000000000"); err != nil {
			return fmt.Errorf("WECHAT_ENCODING_AES_KEY: %w", err)
		}
	}
	sim := wechatsim.New(cfg)
	defer sim.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	printBanner(sim, base)

	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// printBanner prints the simulator's configuration and the walk-through.
func printBanner(sim *wechatsim.Sim, base string) {
	cfg := sim.Config()
	fmt.Printf("WeChat simulator on %s\n\n", base)
	fmt.Printf("  WECHAT_API_BASE=%s\n  WECHAT_APPID=%s\n  WECHAT_SECRET=%s\n  WECHAT_PUSH_TOKEN=%s\n  WECHAT_ENCODING_AES_KEY=%s\n",
		base, cfg.AppID, cfg.Secret, cfg.PushToken, cfg.EncodingAESKey)
	push := cfg.PushURL
	if push == "" {
		push = "(none)"
	}
	fmt.Printf("  push: %s, %s, secure=%t\n\nTemplates:\n", push, cfg.PushFormat, cfg.PushSecure)
	for _, t := range cfg.Templates {
		kind := "one-time"
		if t.Type == wechatsim.LongTerm {
			kind = "long-term"
		}
		fmt.Printf("  %s  %s (%s)\n", t.ID, t.Title, kind)
	}
	fmt.Printf("\nTry it:\n\n%s\n", sim.WalkThrough(base))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
