package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/wxsub/wxsub/dev/coldstart"
	"github.com/wxsub/wxsub/dev/loadgen"
	"github.com/wxsub/wxsub/dev/localstack"
	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/token"
	"github.com/wxsub/wxsub/shared/wechat"
)

// config is the command line.
type config struct {
	url, sim, adminKey string
	out, goBench       string
	quick              bool
	concurrency        int
	timeout            time.Duration

	// Sizes of the runs, set by sizes.
	users, credits int // sends = users × credits
	probe          int // requests measured one at a time per path
	naive          int // messages of each naive run
	daySends       int
	coldRuns       int
	// contentionUsers are the users of the send storm (2 credits each, 32
	// sends at a time).
	contentionUsers int
	// broadcastUsers receive the broadcast at 300 sends a second (3,000:
	// on 2 cores the local stack sends ~15 a second, so 10,000 take too long
	// for make bench; see docs/performance.md).
	broadcastUsers int
}

// tokenQuota is the daily quota of WeChat's token API in the comparison.
const tokenQuota = 2000

// dayInstances is the number of function instances sending in the simulated day.
const dayInstances = 3

func (c *config) sizes() {
	c.users, c.credits, c.probe, c.naive, c.daySends, c.coldRuns = 500, 5, 200, 10000, 100000, 5
	c.contentionUsers, c.broadcastUsers = 1000, 10000
	if c.quick {
		c.users, c.credits, c.probe, c.naive, c.daySends, c.coldRuns = 100, 3, 50, 2500, 10000, 2
		c.contentionUsers, c.broadcastUsers = 200, 1500
	}
}

// results is everything one run measured.
type results struct {
	cfg     config
	when    time.Time
	took    time.Duration
	target  string         // "in-process local stack" or the URL
	dynamo  bool           // DynamoDB and token reads observable
	tmpl    string         // the one-time template of the loads
	boot    loadgen.Counts // what starting and warming the stack cost
	syncVia string

	reportFirst, reportLater, send    loadgen.Result
	sendChunks                        []loadgen.Result // the send load in consecutive fifths
	probeFirst, probeLater, probeSend []loadgen.Counts
	sendAll                           loadgen.Counts // the whole send phase, warm-up included
	sends                             int
	naiveQuota, naiveFree             loadgen.NaiveResult
	peakRSS                           int64 // bytes
	days                              []loadgen.DayResult
	functions                         []function
	contention                        contention
	broadcast                         broadcastRun
	reminders                         reminderRun
	coldProblem                       string
	goBench                           string
}

// function is one function's sizes and cold starts.
type function struct {
	id    string
	sizes map[string]coldstart.Size // by GOARCH
	cold  coldstart.Measurement
	err   string
}

func run(ctx context.Context, c config) (*results, error) {
	r := &results{cfg: c, when: time.Now(), tmpl: wechatsim.TmplOrderShipped}
	tplPath, err := samtemplate.Find(".")
	if err != nil {
		return nil, err
	}
	tpl, err := samtemplate.Load(tplPath)
	if err != nil {
		return nil, err
	}
	if c.goBench != "" {
		b, err := os.ReadFile(c.goBench)
		if err != nil {
			return nil, err
		}
		r.goBench = string(b)
	}

	if err := r.load(ctx, tpl); err != nil {
		return nil, err
	}
	r.contention = measureContention(ctx, c.contentionUsers, 2, 32)
	r.broadcast = measureBroadcast(ctx, c.broadcastUsers, 300, 45, 100*time.Millisecond)
	r.reminders = measureReminders(ctx, c.broadcastUsers, 300, 45, 100*time.Millisecond)
	for _, mode := range []token.Mode{token.Stable, token.Classic} {
		log.Printf("simulated day (%s): %d sends over 24 h", mode, c.daySends)
		d, err := loadgen.Day(ctx, loadgen.DayOptions{
			Mode: mode, Sends: c.daySends, Table: tpl.Table.CreateTableInput("wxsub-day"), TokenQuota: tokenQuota, Instances: dayInstances,
		})
		if err != nil {
			return nil, err
		}
		r.days = append(r.days, d)
	}
	r.measureFunctions(ctx, filepath.Dir(tplPath), tpl)
	return r, nil
}

// load runs the send and report loads and the naive comparison against the
// local stack or the target of the command line.
func (r *results) load(ctx context.Context, tpl *samtemplate.Template) error {
	c := r.cfg
	var t *loadgen.Target
	var counter loadgen.Counter
	if c.url == "" {
		r.target = "in-process local stack (`localstack.Start`), loopback HTTP"
		s, err := localstack.Start(ctx, localstack.Options{
			Getenv: func(string) string { return "" }, Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
			LogOutput: io.Discard, NoSchedules: true, ManualStreams: true,
		})
		if err != nil {
			return err
		}
		defer s.Close()
		// Each request's own cost is measured: the simulator's pushes (a
		// popup or sent event per tap and send) would add the push
		// function's requests to it.
		s.Sim.SetPushURL("")
		if counter, err = loadgen.LocalCounter(s.DB, s.Sim, s.Config.AppID); err != nil {
			return err
		}
		r.dynamo = true
		t = loadgen.NewTarget(s.URL, s.AdminKey, s.SimURL)
		// Warm up as the schedules do at start: the token, then the catalogue.
		for _, fn := range tpl.Functions {
			if len(fn.Schedules) > 0 {
				if err := s.RunSchedule(ctx, fn.LogicalID); err != nil {
					return fmt.Errorf("warm-up: %s: %w", fn.LogicalID, err)
				}
			}
		}
		tok, err := s.Backend.Tokens.Get(ctx)
		if err != nil {
			return fmt.Errorf("warm-up: token: %w", err)
		}
		if _, err := s.Backend.Catalog.Sync(ctx, s.Backend.WeChat, tok.Value); err != nil {
			return fmt.Errorf("warm-up: template catalogue: %w", err)
		}
		if _, err := s.Backend.Catalog.All(ctx); err != nil {
			return fmt.Errorf("warm-up: template catalogue: %w", err)
		}
		r.syncVia = "the scheduled functions run once, then `Catalog.Sync`"
	} else {
		r.target = c.url
		t = loadgen.NewTarget(c.url, c.adminKey, c.sim)
		counter = t.SimCounter()
		found, err := t.SyncTemplates(ctx)
		if err != nil {
			return err
		}
		r.syncVia = "the stack's own schedules"
		if found {
			r.syncVia = "`POST /v1/templates/sync`"
		}
	}
	defer t.Close()
	sc, err := t.SimConfig(ctx)
	if err != nil {
		return err
	}
	for _, p := range []string{loadgen.PathToken, loadgen.PathStableToken} {
		if err := t.SetQuota(ctx, p, tokenQuota); err != nil {
			return err
		}
	}
	boot, err := counter(ctx)
	if err != nil {
		return err
	}
	r.boot = boot
	if r.dynamo && boot.TokenReads == 0 {
		// The warm-up read the token item; if it was not seen under the
		// key loadgen expects, token reads cannot be counted.
		log.Print("the token item was never read under its expected key: token reads are not counted")
		r.dynamo = false
	}

	conc := c.concurrency
	log.Printf("login of %d users; %d popup taps", c.users, c.users*c.credits)
	users, err := t.Login(ctx, c.users, conc)
	if err != nil {
		return err
	}
	if err := t.Tap(ctx, users, r.tmpl, c.credits, conc); err != nil {
		return err
	}

	// Reports: every user's first report of the template, then the others.
	report := t.ReportOp(users, r.tmpl)
	log.Printf("reports: %d first, %d later", c.users, c.users*(c.credits-1))
	var runs []loadgen.Result
	if r.probeFirst, runs, err = phase(ctx, "report (first of a template)", c.users, c.probe, 0, conc, counter, report, 1); err != nil {
		return err
	}
	r.reportFirst = runs[0]
	later := func(ctx context.Context, i int) error { return report(ctx, i+c.users) }
	if r.probeLater, runs, err = phase(ctx, "report (later)", c.users*(c.credits-1), c.probe, 0, conc, counter, later, 1); err != nil {
		return err
	}
	r.reportLater = runs[0]

	// Sends: every credit, after a short warm-up.
	send, err := t.SendOp(users, r.tmpl)
	if err != nil {
		return err
	}
	r.sends = c.users * c.credits
	log.Printf("sends: %d (quota on the token APIs: %d a day)", r.sends, tokenQuota)
	before, err := counter(ctx)
	if err != nil {
		return err
	}
	if r.probeSend, r.sendChunks, err = phase(ctx, "send", r.sends, c.probe, 2*conc, conc, counter, send, 5); err != nil {
		return err
	}
	r.send = loadgen.Merge("send", r.sendChunks...)
	after, err := counter(ctx)
	if err != nil {
		return err
	}
	r.sendAll = after.Sub(before)
	r.peakRSS = peakRSS()

	// The naive flow, on the same simulator: first under the token API's
	// daily quota, then with the quota lifted to count its token calls.
	log.Printf("naive flow: %d messages under the quota, %d without", c.naive, c.naive)
	clinic := wechatsim.TmplClinicVisit
	if err := t.Tap(ctx, users, clinic, 1, conc); err != nil {
		return err
	}
	data, err := loadgen.ExampleData(clinic)
	if err != nil {
		return err
	}
	msg := func(i int) wechat.Message {
		return wechat.Message{ToUser: users[i%len(users)].OpenID, TemplateID: clinic, Page: "pages/index/index", Data: data}
	}
	if r.naiveQuota, err = t.Naive(ctx, sc.AppID, sc.Secret, c.naive, conc, msg); err != nil {
		return err
	}
	if err := t.SetQuota(ctx, loadgen.PathToken, 100*int64(c.naive)); err != nil {
		return err
	}
	if r.naiveFree, err = t.Naive(ctx, sc.AppID, sc.Secret, c.naive, conc, msg); err != nil {
		return err
	}
	return nil
}

// phase makes total requests with op: warm unmeasured ones, then probe one
// at a time with their exact costs, then the rest under load, in chunks
// consecutive runs of about equal size.
func phase(ctx context.Context, name string, total, probe, warm, conc int, counter loadgen.Counter, op loadgen.Op, chunks int) ([]loadgen.Counts, []loadgen.Result, error) {
	probe = min(probe, total-warm)
	if warm > 0 {
		res, err := loadgen.Run(ctx, name+" warm-up", loadgen.Options{Concurrency: conc, Count: warm}, nil, op)
		if err != nil {
			return nil, nil, err
		}
		if res.Failures > 0 {
			return nil, nil, fmt.Errorf("%s warm-up: %d failures; first: %s", name, res.Failures, res.FirstFailure)
		}
	}
	var costs []loadgen.Counts
	if counter != nil && probe > 0 {
		var err error
		costs, err = loadgen.Probe(ctx, probe, counter, func(ctx context.Context, i int) error { return op(ctx, warm+i) })
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	} else {
		probe = 0
	}
	var runs []loadgen.Result
	off, left := warm+probe, total-warm-probe
	for k := chunks; k > 0; k-- {
		n := left / k
		start := off
		res, err := loadgen.Run(ctx, name, loadgen.Options{Concurrency: conc, Count: n}, counter,
			func(ctx context.Context, i int) error { return op(ctx, start+i) })
		if err != nil {
			return nil, nil, err
		}
		runs = append(runs, res)
		off, left = off+n, left-n
	}
	return costs, runs, nil
}

// peakRSS is this process's maximum resident set size so far.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	kb := int64(ru.Maxrss)
	if runtime.GOOS == "darwin" {
		return kb // bytes on macOS
	}
	return kb * 1024
}

// measureFunctions builds every function of template.yaml for arm64 and
// amd64, and measures the cold start of the host build.
func (r *results) measureFunctions(ctx context.Context, root string, tpl *samtemplate.Template) {
	dir, err := os.MkdirTemp("", "wxsub-bench-")
	if err != nil {
		r.coldProblem = err.Error()
		return
	}
	defer os.RemoveAll(dir)
	hostBuilds := map[string]string{}
	for _, fn := range tpl.Functions {
		f := function{id: fn.LogicalID, sizes: map[string]coldstart.Size{}}
		arches := []string{"arm64", "amd64"}
		if runtime.GOARCH != "arm64" && runtime.GOARCH != "amd64" {
			arches = append(arches, runtime.GOARCH)
		}
		for _, arch := range arches {
			log.Printf("build %s (%s)", fn.LogicalID, arch)
			out := filepath.Join(dir, fn.LogicalID+"-"+arch)
			p, err := coldstart.Build(ctx, root, fn.LogicalID, arch, out)
			if err != nil {
				f.err = err.Error()
				break
			}
			s, err := coldstart.SizeOf(p)
			if err != nil {
				f.err = err.Error()
				break
			}
			f.sizes[arch] = s
			if arch == runtime.GOARCH {
				hostBuilds[fn.LogicalID] = p
			}
		}
		r.functions = append(r.functions, f)
	}
	if !coldstart.Supported {
		r.coldProblem = "cold starts need the Lambda Runtime Interface Emulator, which runs on Linux only"
		return
	}
	log.Printf("cold starts under the Runtime Interface Emulator (%d per function)", r.cfg.coldRuns)
	ms, err := coldstart.ColdStarts(ctx, coldstart.Options{
		Root: root, Template: tpl, Runs: r.cfg.coldRuns,
		Prefer: []string{"session.json", "users-subscriptions-get.json", "messages-post.json", "refresh-token.json"},
	}, hostBuilds)
	if err != nil {
		r.coldProblem = err.Error()
		return
	}
	for i := range r.functions {
		for _, m := range ms {
			if m.LogicalID == r.functions[i].id {
				r.functions[i].cold = m
			}
		}
	}
}
