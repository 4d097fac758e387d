// Command wxsub-bench measures wxsub (`make bench`) and writes the tables of
// docs/performance.md: the send and report paths under load with what each
// request cost (counted by the stack), the naive token flow beside wxsub's,
// a simulated day of sends, and each function's binary size and cold start.
//
// By default it starts the local stack in-process (no AWS, no Docker); with
// -url, -sim and -admin-key it loads any running stack instead, where only
// the simulator's counters are observable.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("wxsub-bench: ")
	var c config
	flag.StringVar(&c.url, "url", "", "base URL of a running stack (default: start the local stack in-process)")
	flag.StringVar(&c.sim, "sim", "", "the WeChat simulator's base URL, with -url")
	flag.StringVar(&c.adminKey, "admin-key", "", "the stack's WXSUB_ADMIN_KEY, with -url")
	flag.StringVar(&c.out, "out", "", "write the report to this file (default: standard output)")
	flag.StringVar(&c.goBench, "gobench", "", "output of `go test -bench` to include in the report")
	flag.BoolVar(&c.quick, "quick", false, "a short run (about a tenth of the requests)")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent requests of the load runs")
	flag.DurationVar(&c.timeout, "timeout", 15*time.Minute, "give up after this long")
	only := flag.String("only", "", "run one section alone and print it: reminders")
	flag.Parse()
	if c.url != "" && (c.sim == "" || c.adminKey == "") {
		log.Fatal("wxsub-bench: -url needs -sim and -admin-key")
	}
	c.sizes()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	switch *only {
	case "":
	case "reminders":
		measureReminders(ctx, c.broadcastUsers, 300, 45, 100*time.Millisecond).write(func(f string, a ...any) { fmt.Printf(f, a...) })
		return
	default:
		log.Fatalf("wxsub-bench: -only takes reminders, not %q", *only)
	}

	started := time.Now()
	r, err := run(ctx, c)
	if err != nil {
		log.Fatal(err)
	}
	r.took = time.Since(started)

	if c.out == "" {
		if err := r.write(os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	f, err := os.Create(c.out)
	if err != nil {
		log.Fatal(err)
	}
	err = r.write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s in %s", c.out, r.took.Round(time.Second))
}
