package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/wxsub/wxsub/dev/loadgen"
)

// write renders the report as Markdown.
func (r *results) write(w io.Writer) error {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.cfg

	p("# Performance\n\n")
	p("Written by `make bench` (`go run ./cmd/wxsub-bench`); do not edit by hand. ")
	run := "full run"
	if c.quick {
		run = "quick run (`-quick`)"
	}
	p("Measured %s on %s/%s, %d CPUs%s, %s; a %s that took %s.\n\n",
		r.when.UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(),
		runtime.Version(), run, r.took.Round(time.Second))
	if c.url == "" {
		p("Target: %s. Every count below is counted by the stack, not estimated: the in-process DynamoDB "+
			"server counts each request by operation (and each single-item request by the item it names), and "+
			"the WeChat simulator counts each call by API path. Latencies cross loopback HTTP three times "+
			"(client → API, API → DynamoDB, API → WeChat) on one machine whose DynamoDB is minidyn, which "+
			"serialises writes behind one lock, behind a layer that makes it behave as DynamoDB does under "+
			"concurrency (each transaction takes %s and holds its items, conflicting transactions are cancelled, "+
			"hot items throttled, gsi1 lags), so they measure this harness as much as wxsub; in AWS the "+
			"DynamoDB and WeChat round trips dominate. The counts are what carries over.\n\n", r.target,
			r.contention.settings.TxnLatency)
	} else {
		p("Target: %s. The WeChat simulator counts each call by API path; the stack's DynamoDB is not "+
			"observable from outside, so its counts are measured only by a run without `-url`. The simulated "+
			"day and the functions' sizes and cold starts are measured on this machine either way.\n\n", r.target)
	}

	p("## Against the performance bars\n\n")
	p("| bar | measured | verdict |\n|---|---|---|\n")
	for _, row := range r.bars() {
		p("| %s | %s | %s |\n", row.bar, row.measured, row.verdict)
	}
	p("\n")

	p("## The send and report paths\n\n")
	p("%s users each tapped \"allow\" %d times in the simulated popup for a one-time template "+
		"(`%s`, 订单发货通知), reported every tap (`POST /v1/subscriptions`), and were sent one message per "+
		"credit (`POST /v1/messages`), spending every credit. Before measuring: the template catalogue synced "+
		"(%s); before the sends, %d unmeasured warm-up sends. %s\n\n",
		comma(int64(c.users)), c.credits, r.tmpl, r.syncVia, 2*c.concurrency, r.setting())
	p("**Under load** (%d concurrent requests):\n\n", c.concurrency)
	chunks := ""
	if n := len(r.sendChunks); n > 1 {
		first, last := r.sendChunks[0], r.sendChunks[n-1]
		chunks = fmt.Sprintf("The send load ran in %d consecutive parts: %.0f req/s (p50 %s) in the first, %.0f req/s (p50 %s) in the last.",
			n, first.RPS(), ms(first.Percentile(50)), last.RPS(), ms(last.Percentile(50)))
		chunks += "\n\n"
	}
	p("| path | requests | req/s | p50 | p99 | DynamoDB requests per request | WeChat requests per request | token reads per request | failures |\n")
	p("|---|---:|---:|---:|---:|---|---|---|---:|\n")
	for _, res := range []loadgen.Result{r.send, r.reportFirst, r.reportLater} {
		p("| %s | %s | %.0f | %s | %s | %s | %s | %s | %d |\n", res.Name, comma(int64(res.Requests)), res.RPS(),
			ms(res.Percentile(50)), ms(res.Percentile(99)), r.perDynamo(res), perWeChat(res), r.perTokenReads(res), res.Failures)
	}
	p("\n%s", chunks)
	if r.dynamo {
		p("**One at a time** (each request's own cost, read from the counters before and after it; "+
			"\"2 (all %d)\" means every one of them cost 2):\n\n", len(r.probeSend))
		p("| path | DynamoDB requests | by operation | single-item requests by item | WeChat requests | token reads |\n|---|---|---|---|---|---|\n")
		for _, pr := range []struct {
			name  string
			costs []loadgen.Counts
		}{{"send", r.probeSend}, {"report (first of a template)", r.probeFirst}, {"report (later)", r.probeLater}} {
			p("| %s | %s | %s | %s | %s | %s |\n", pr.name,
				loadgen.SpreadString(loadgen.Spread(pr.costs, loadgen.Counts.DynamoDBTotal)), byOp(pr.costs), byItem(pr.costs),
				loadgen.SpreadString(loadgen.Spread(pr.costs, loadgen.Counts.WeChatTotal)),
				loadgen.SpreadString(loadgen.Spread(pr.costs, func(c loadgen.Counts) int64 { return c.TokenReads })))
		}
		p("\n")
	}
	if c.url == "" {
		p("Starting the stack and warming it up cost %s WeChat token call(s)%s.\n\n", comma(r.boot.TokenCalls()), r.bootReads())
	} else {
		p("Before the run the simulator had counted %s token call(s) since it started.\n\n", comma(r.boot.TokenCalls()))
	}

	r.contention.write(p)
	r.contention.costSection(p)
	r.broadcast.write(p)
	r.reminders.write(p)

	p("## Token calls: the naive flow beside wxsub's\n\n")
	p("The naive flow is what many tutorials teach: fetch a token from `GET /cgi-bin/token`, then send, for "+
		"every message. It runs against the same simulator, %d at a time, with the token APIs' daily quota "+
		"at %s (`/cgi-bin/token`'s documented limit; `/cgi-bin/stable_token`, which wxsub uses, was held to "+
		"the same %s for the comparison).\n\n", c.concurrency, comma(tokenQuota), comma(tokenQuota))
	p("| flow | messages | delivered | WeChat token calls | token calls per 10,000 messages | delivered before the token API answered 45009 |\n")
	p("|---|---:|---:|---:|---:|---|\n")
	nq, nf := r.naiveQuota, r.naiveFree
	stop := "never answered 45009"
	if nq.StopCode != 0 {
		stop = fmt.Sprintf("%s (then %d)", comma(int64(nq.Delivered)), nq.StopCode)
	}
	p("| naive, quota %s a day | %s | %s | %s | — | %s |\n", comma(tokenQuota), comma(int64(nq.Messages)),
		comma(int64(nq.Delivered)), comma(nq.TokenCalls), stop)
	p("| naive, quota lifted | %s | %s | %s | %s | — |\n", comma(int64(nf.Messages)), comma(int64(nf.Delivered)),
		comma(nf.TokenCalls), per10k(nf.TokenCalls, nf.Messages))
	delivered := int64(r.sends - r.send.Failures)
	before := "at start"
	if c.url != "" {
		before = "before the run"
	}
	p("| wxsub through the stack (`POST /v1/messages`), quota %s a day | %s | %s | %s during the sends (+%s %s) | %s (+%s %s) | %s |\n",
		comma(tokenQuota), comma(int64(r.sends)), comma(delivered), comma(r.sendAll.TokenCalls()), comma(r.boot.TokenCalls()), before,
		trim(float64(r.sendAll.TokenCalls())*10000/float64(max(r.sends, 1))), comma(r.boot.TokenCalls()), before, allOf(delivered, int64(r.sends)))
	for _, d := range r.days {
		p("| wxsub's token plane, a simulated day (%s), quota %s a day | %s | %s | %s | %s | %s |\n",
			d.Mode, comma(tokenQuota), comma(int64(d.Sends)), comma(int64(d.Delivered)), comma(d.TokenCalls),
			per10k(d.TokenCalls, d.Sends), allOf(int64(d.Delivered), int64(d.Sends)))
	}
	p("\nwxsub's token calls do not grow with the messages: its refresher fetches a token when the stored one " +
		"nears expiry, and every send reads it from memory. The stack run is bounded by the in-process DynamoDB's " +
		"speed (see above), so the day below shows the volume.\n\n")

	p("## A simulated day\n\n")
	p("%s sends spread evenly over 24 simulated hours (midnight to midnight, China time) from %d function "+
		"instances, each with its own token plane and in-memory token, with the scheduled refresher running "+
		"every 5 minutes; the simulator, the planes and an in-process DynamoDB share one fake clock. Each send "+
		"does what the send function does with the token (`Get`, send, on a token error report it and retry "+
		"once) and goes to WeChat (the simulator) over HTTP; the ledger is not involved (the send path's "+
		"DynamoDB cost is measured above). The bar is 24 token calls a day.\n\n", comma(int64(c.daySends)), dayInstances)
	p("| token API | sends | delivered | refused for the token | refresher runs | WeChat token calls | forced refreshes | token item reads | real time |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, d := range r.days {
		p("| %s | %s | %s | %d | %d | **%d** | %d | %s | %s |\n", d.Mode, comma(int64(d.Sends)), comma(int64(d.Delivered)),
			d.TokenErrors, d.RefresherRuns, d.TokenCalls, d.ForcedRefreshes, comma(d.TokenReads), d.Elapsed.Round(100*time.Millisecond))
	}
	p("\n")

	p("## Functions: binary size and cold start\n\n")
	p("Each function's `bootstrap` is built by its Makefile target (`make build-<LogicalId>`, the one `sam "+
		"build` runs: `CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags='-s -w'`). The zip is the "+
		"deflated archive Lambda would receive. Cold start: the host (%s) build run by AWS's Lambda Runtime "+
		"Interface Emulator, which starts the function's process on the first invocation as Lambda does; "+
		"measured from sending that invocation (the function's sample event from `events/`) to its answer, "+
		"so it covers process start, init (configuration, AWS and WeChat clients) and the first request, "+
		"including its DynamoDB and WeChat calls to the in-process servers. The last column adds the "+
		"emulator's own start. Medians of %d runs, each a new emulator and a new process.\n\n", runtime.GOARCH, c.coldRuns)
	p("| function | bootstrap arm64 | zip arm64 | bootstrap amd64 | zip amd64 | cold start (%s) | with the emulator's start | event |\n", runtime.GOARCH)
	p("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, f := range r.functions {
		a, x := f.sizes["arm64"], f.sizes["amd64"]
		cold, inv, ev := "—", "—", f.cold.Event
		switch {
		case f.err != "":
			ev = "build failed: " + oneLine(f.err)
		case f.cold.Problem != "":
			ev = "not measured: " + oneLine(f.cold.Problem)
		case len(f.cold.Starts) > 0:
			m := f.cold.Median()
			cold, inv = ms(m.Invoke), ms(m.Total)
			ev = "`" + ev + "`"
		case r.coldProblem != "":
			ev = "not measured: " + oneLine(r.coldProblem)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.id, mib(a.Bytes), mib(a.Zipped), mib(x.Bytes), mib(x.Zipped), cold, inv, ev)
	}
	p("\n")

	p("## Memory\n\n")
	p("Peak RSS of the benchmark process at the end of the send load: **%s**. It is the whole local "+
		"stack in one process (API, every handler, the in-process DynamoDB holding %s ledger rows and %s "+
		"messages, the WeChat simulator with its inbox) plus the load generator, measured with "+
		"`getrusage(RUSAGE_SELF)`; a deployed function holds only its own handler.\n\n",
		mib(r.peakRSS), comma(int64(c.users)), comma(int64(r.sends)))

	if bench := goBenchLines(r.goBench); bench != "" {
		p("## Go micro-benchmarks\n\n")
		p("`go test -run '^$' -bench . -benchmem ./...` on the same machine, in the same `make bench`. " +
			"`BenchmarkSend` is one send through the in-process stack; its `dynamodb-req/op`, " +
			"`wechat-req/op` and `token-reads/op` are counted by the stack.\n\n```text\n")
		p("%s```\n\n", bench)
	}

	p("## Reproduce\n\n```sh\nmake bench                                  # everything above, then rewrites this file\n" +
		"go run ./cmd/wxsub-bench -quick            # a short run, to standard output\n" +
		"go run ./cmd/wxsub-bench -url http://127.0.0.1:3000 -sim http://127.0.0.1:3001 -admin-key $WXSUB_ADMIN_KEY\n" +
		"                                            # load a running stack (only the simulator's counts are observable)\n```\n")
	_, err := w.Write(b.Bytes())
	return err
}

// bar is one row of the verdict table.
type bar struct{ bar, measured, verdict string }

// bars measures the results against wxsub's performance bars.
func (r *results) bars() []bar {
	var out []bar
	verdict := func(ok bool, reason string) string {
		if ok {
			return "met"
		}
		return "**missed**: " + reason
	}
	weChat := loadgen.Counts.WeChatTotal
	dyn := loadgen.Counts.DynamoDBTotal
	reads := func(c loadgen.Counts) int64 { return c.TokenReads }
	sendWeChat := r.send.Per(r.send.Counts.WeChatTotal())

	if r.dynamo {
		lo, hi := span(r.probeSend, weChat)
		out = append(out, bar{"one send = 1 WeChat request",
			fmt.Sprintf("%s for each of %d sends one at a time; %.3f per send over %s under load", rangeText(lo, hi), len(r.probeSend), sendWeChat, comma(int64(r.send.Requests))),
			verdict(lo == 1 && hi == 1 && sendWeChat == 1, r.extraWeChat())})
		lo, hi = span(r.probeSend, dyn)
		mean := r.send.Per(r.send.Counts.DynamoDBTotal())
		v := verdict(hi <= 2, r.extraOps(r.probeSend, 2))
		if hi <= 2 && mean > 2 {
			v = "met on the warm path; " + r.amortised(r.send, 2)
		}
		out = append(out, bar{"one send ≤ 2 DynamoDB requests",
			fmt.Sprintf("%s each (%s); %.4f per send under load", rangeText(lo, hi), byOp(r.probeSend), mean), v})
		lo, hi = span(r.probeSend, reads)
		total := r.send.Counts.TokenReads
		out = append(out, bar{"one send = 0 token reads",
			fmt.Sprintf("%s each; %s token item reads over %s sends under load", rangeText(lo, hi), comma(total), comma(int64(r.send.Requests))),
			verdict(hi == 0 && total == 0, "the send path read the token item: its in-memory copy had expired")})
		lo, hi = span(r.probeLater, dyn)
		out = append(out, bar{"one report = 1 DynamoDB request",
			fmt.Sprintf("%s each (%s); %.4f per report under load", rangeText(lo, hi), byOp(r.probeLater), r.reportLater.Per(r.reportLater.Counts.DynamoDBTotal())),
			verdict(hi <= 1, r.extraOps(r.probeLater, 1))})
		lo, hi = span(r.probeFirst, dyn)
		out = append(out, bar{"… 2 the first time a user reports a template",
			fmt.Sprintf("%s each (%s); %.4f per report under load", rangeText(lo, hi), byOp(r.probeFirst), r.reportFirst.Per(r.reportFirst.Counts.DynamoDBTotal())),
			verdict(hi <= 2, r.extraOps(r.probeFirst, 2))})
	} else {
		out = append(out, bar{"one send = 1 WeChat request", fmt.Sprintf("%.3f per send over %s under load", sendWeChat, comma(int64(r.send.Requests))),
			verdict(sendWeChat == 1, r.extraWeChat())})
		out = append(out, bar{"DynamoDB requests and token reads per send and report", "not observable at a remote target", "not measured: run without -url"})
	}
	if c := r.contention; c.err == "" && c.run.Requests > 0 {
		lost := int64(c.sendsAnswered) - c.todaySent
		out = append(out, bar{fmt.Sprintf("%d concurrent sends over %s users with conflicts on: 0 failures, 0 lost counts", c.concurrency, comma(int64(c.users))),
			fmt.Sprintf("%d failures, %d lost counts, %d settlements given up; %s conflicts met and retried",
				c.run.Failures, lost, c.settleFailed, comma(c.stats.TxnConflicts+c.stats.WriteConflicts+c.stats.Throttles)),
			verdict(c.run.Failures == 0 && lost == 0 && c.settleFailed == 0, "see Sends under contention")})
	}
	if b := r.broadcast; b.err == "" && b.users > 0 {
		out = append(out, bar{fmt.Sprintf("a %s-user broadcast reaches ≥ 90%% of %d sends/s, exact counts, nothing sent twice", comma(int64(b.users)), b.rate),
			fmt.Sprintf("%.0f sends/s (%.0f%%), %d users reached twice", b.achieved(), 100*b.achieved()/float64(b.rate), b.twice),
			verdict(b.twice == 0 && b.achieved() >= 0.9*float64(b.rate), "see A broadcast at scale")})
	}
	if m := r.reminders; m.users > 0 {
		out = append(out, bar{fmt.Sprintf("%s reminders due in one minute all delivered within a minute of it at %d sends/s, none twice, none early", comma(int64(m.users)), m.rate),
			fmt.Sprintf("%s delivered, the last %s after the minute began (%.0f sends/s); %d twice, %d early", comma(int64(m.delivered)), m.last.Round(100*time.Millisecond), m.achieved(), m.twice, m.early),
			verdict(m.ok(), "see Reminders due in the same minute")})
	}
	var worst int64
	var days []string
	for _, d := range r.days {
		worst = max(worst, d.TokenCalls)
		days = append(days, fmt.Sprintf("%d (%s)", d.TokenCalls, d.Mode))
	}
	out = append(out, bar{"WeChat token calls per day ≤ 24, whatever the send volume",
		fmt.Sprintf("%s over a simulated day of %s sends; %s for %s sends under load",
			strings.Join(days, ", "), comma(int64(r.cfg.daySends)), comma(r.sendAll.TokenCalls()), comma(int64(r.sends))),
		verdict(worst <= 24 && len(r.days) > 0, "see the simulated day")})

	built, measured := 0, 0
	var fastest, slowest time.Duration
	var smallest, largest int64
	for _, f := range r.functions {
		if s, ok := f.sizes["arm64"]; ok {
			if built == 0 || s.Bytes < smallest {
				smallest = s.Bytes
			}
			largest = max(largest, s.Bytes)
			built++
		}
		if len(f.cold.Starts) > 0 {
			m := f.cold.Median().Invoke
			if measured == 0 || m < fastest {
				fastest = m
			}
			slowest = max(slowest, m)
			measured++
		}
	}
	n := len(r.functions)
	out = append(out, bar{"binary size per function reported for arm64",
		fmt.Sprintf("%d of %d functions built for arm64: %s–%s each (see the table)", built, n, mib(smallest), mib(largest)),
		verdict(built == n && n > 0, "a build failed; see the table")})
	coldOK := measured == n && n > 0 && runtime.GOARCH == "arm64"
	var reasons []string
	if runtime.GOARCH != "arm64" {
		reasons = append(reasons, fmt.Sprintf("this machine is %s with no arm64 emulation, so the arm64 binaries "+
			"cannot run here; the %s build of the same code is measured instead (same code and init; arm64 "+
			"Lambda differs in CPU speed)", runtime.GOARCH, runtime.GOARCH))
	}
	var missing []string
	for _, f := range r.functions {
		if len(f.cold.Starts) == 0 {
			missing = append(missing, f.id)
		}
	}
	if len(missing) > 0 {
		why := "see the table for why"
		if r.coldProblem != "" {
			why = oneLine(r.coldProblem)
		}
		reasons = append(reasons, fmt.Sprintf("%s could not be measured here (%s)", strings.Join(missing, ", "), why))
	}
	reason := strings.Join(reasons, "; ")
	out = append(out, bar{"cold start per function reported for arm64",
		fmt.Sprintf("%d of %d functions measured on %s: %s–%s (median, process start → first answer)", measured, n, runtime.GOARCH, ms(fastest), ms(slowest)),
		verdict(coldOK, reason)})
	return out
}

// extraWeChat explains WeChat calls of the send phase other than subscribe/send.
func (r *results) extraWeChat() string {
	var parts []string
	for _, path := range loadgen.ByCount(r.send.Counts.WeChat) {
		if path != loadgen.PathSend {
			parts = append(parts, fmt.Sprintf("%s ×%d", path, r.send.Counts.WeChat[path]))
		}
	}
	if n := r.send.Counts.WeChat[loadgen.PathSend]; n != int64(r.send.Requests) {
		parts = append(parts, fmt.Sprintf("%d subscribe/send calls for %d sends (retries)", n, r.send.Requests))
	}
	if len(parts) == 0 {
		return "see the tables"
	}
	return "the sends also called " + strings.Join(parts, ", ")
}

// hints say why an operation not attributed to one item shows up.
var hints = map[string]string{
	"Query": "a multi-item read: on these paths the template catalogue, whose in-memory copy expires every minute (`catalog.DefaultTTL`)",
}

// itemNames name the classes of items of wxsub's table (loadgen.ItemClass).
var itemNames = map[string]string{
	"U/T":     "the user's ledger row",
	"D/D":     "the app's counters for today (which `GET /v1/quota` reports; only the tally writes them)",
	"A/TOKEN": "the token item",
	"A/TPL":   "a catalogue template",
}

func itemName(class string) string {
	if n, ok := itemNames[class]; ok {
		return n
	}
	return "an item " + class
}

// extraOps explains what the probed requests costing more than limit did.
func (r *results) extraOps(costs []loadgen.Counts, limit int64) string {
	var over []loadgen.Counts
	for _, c := range costs {
		if c.DynamoDBTotal() > limit {
			over = append(over, c)
		}
	}
	if len(over) == 0 {
		return "see the tables"
	}
	who := fmt.Sprintf("%d of %d requests cost more than %d", len(over), len(costs), limit)
	if len(over) == len(costs) {
		who = fmt.Sprintf("every request cost more than %d", limit)
	}
	return who + "; on average each made " + describe(over)
}

// describe lists what the requests did in DynamoDB, per request: the
// single-item requests by the item they named, then the others.
func describe(costs []loadgen.Counts) string {
	n := float64(len(costs))
	total, items := map[string]int64{}, map[string]map[string]int64{}
	for _, c := range costs {
		for op, k := range c.DynamoDB {
			total[op] += k
		}
		for class, ops := range c.Items {
			if items[class] == nil {
				items[class] = map[string]int64{}
			}
			for op, k := range ops {
				items[class][op] += k
			}
		}
	}
	var parts []string
	attributed := map[string]int64{}
	for _, class := range classes(items) {
		for _, op := range loadgen.ByCount(items[class]) {
			k := items[class][op]
			attributed[op] += k
			parts = append(parts, fmt.Sprintf("%s on %s ×%s", op, itemName(class), trim(float64(k)/n)))
		}
	}
	for _, op := range loadgen.ByCount(total) {
		k := total[op] - attributed[op]
		if k <= 0 {
			continue
		}
		part := fmt.Sprintf("%s ×%s", op, trim(float64(k)/n))
		if h, ok := hints[op]; ok {
			part += " (" + h + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// classes orders item classes by their requests, most first.
func classes(items map[string]map[string]int64) []string {
	sums := map[string]int64{}
	for class, ops := range items {
		for _, k := range ops {
			sums[class] += k
		}
	}
	return loadgen.ByCount(sums)
}

// byItem sums the probed requests' single-item requests by item, per request.
func byItem(costs []loadgen.Counts) string {
	if len(costs) == 0 {
		return "—"
	}
	items := map[string]map[string]int64{}
	for _, c := range costs {
		for class, ops := range c.Items {
			if items[class] == nil {
				items[class] = map[string]int64{}
			}
			for op, k := range ops {
				items[class][op] += k
			}
		}
	}
	var parts []string
	for _, class := range classes(items) {
		for _, op := range loadgen.ByCount(items[class]) {
			parts = append(parts, fmt.Sprintf("%s on %s ×%s", op, itemName(class), trim(float64(items[class][op])/float64(len(costs)))))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " + ")
}

func allOf(delivered, of int64) string {
	if delivered == of {
		return "all " + comma(of)
	}
	return comma(delivered) + " of " + comma(of)
}

// amortised explains a load mean above the warm path's cost.
func (r *results) amortised(res loadgen.Result, warm int64) string {
	extra := map[string]int64{}
	for op, n := range res.Counts.DynamoDB {
		if float64(n) > float64(res.Requests) {
			extra[op] = n - int64(res.Requests)
		} else if op != "UpdateItem" && op != "TransactWriteItems" {
			extra[op] = n
		}
	}
	var parts []string
	for _, op := range loadgen.ByCount(extra) {
		part := fmt.Sprintf("%s ×%d", op, extra[op])
		if h, ok := hints[op]; ok {
			part += ": " + h
		}
		parts = append(parts, part)
	}
	return fmt.Sprintf("the load's mean is above %d because of %s", warm, strings.Join(parts, "; "))
}

// setting says how the stack under load was prepared.
func (r *results) setting() string {
	if r.cfg.url != "" {
		return "The stack ran as it was started (its own schedules, caches and pushes); only the simulator's " +
			"counters are observable from outside, so DynamoDB requests and token reads are not measured."
	}
	return "The token was fetched and cached and the catalogue read into memory first, as a warm function " +
		"has them. The simulator's pushes are off, so each request's own cost is counted (a push costs the " +
		"push function's requests, not the sender's)."
}

func (r *results) perDynamo(res loadgen.Result) string {
	if !r.dynamo {
		return "not observable"
	}
	s := fmt.Sprintf("%.3f", res.Per(res.Counts.DynamoDBTotal()))
	var ops []string
	for _, op := range loadgen.ByCount(res.Counts.DynamoDB) {
		ops = append(ops, fmt.Sprintf("%s %.3f", op, res.Per(res.Counts.DynamoDB[op])))
	}
	if len(ops) > 0 {
		s += " (" + strings.Join(ops, ", ") + ")"
	}
	return s
}

func perWeChat(res loadgen.Result) string {
	s := fmt.Sprintf("%.3f", res.Per(res.Counts.WeChatTotal()))
	var ops []string
	for _, path := range loadgen.ByCount(res.Counts.WeChat) {
		ops = append(ops, fmt.Sprintf("`%s` %.3f", strings.TrimPrefix(path, "/cgi-bin"), res.Per(res.Counts.WeChat[path])))
	}
	if len(ops) > 0 {
		s += " (" + strings.Join(ops, ", ") + ")"
	}
	return s
}

func (r *results) perTokenReads(res loadgen.Result) string {
	if !r.dynamo {
		return "not observable"
	}
	return fmt.Sprintf("%.3f (%s in all)", res.Per(res.Counts.TokenReads), comma(res.Counts.TokenReads))
}

func (r *results) bootReads() string {
	if !r.dynamo {
		return ""
	}
	return fmt.Sprintf(" and %s read(s) of the token item", comma(r.boot.TokenReads))
}

// byOp sums the probed requests' DynamoDB operations, per request.
func byOp(costs []loadgen.Counts) string {
	if len(costs) == 0 {
		return "—"
	}
	total := map[string]int64{}
	for _, c := range costs {
		for op, n := range c.DynamoDB {
			total[op] += n
		}
	}
	var parts []string
	for _, op := range loadgen.ByCount(total) {
		parts = append(parts, fmt.Sprintf("%s %s", op, trim(float64(total[op])/float64(len(costs)))))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " + ")
}

func span(costs []loadgen.Counts, f func(loadgen.Counts) int64) (lo, hi int64) {
	for i, c := range costs {
		v := f(c)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func rangeText(lo, hi int64) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

func per10k(calls int64, messages int) string {
	if messages == 0 {
		return "—"
	}
	v := float64(calls) * 10000 / float64(messages)
	s := trim(v)
	if messages != 10000 {
		s += fmt.Sprintf(" (scaled from %s)", comma(int64(messages)))
	}
	return s
}

func trim(v float64) string {
	if v == float64(int64(v)) {
		return comma(int64(v))
	}
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func ms(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
}

func mib(n int64) string {
	if n <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func comma(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if r := []rune(s); len(r) > 240 {
		s = string(r[:240]) + "…"
	}
	return s
}

// cpuModel is ", <model>" from /proc/cpuinfo, or "" where there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return " (" + strings.TrimSpace(v) + ")"
		}
	}
	return ""
}

// goBenchLines keeps the package headers and benchmark results of `go test
// -bench` output, and any failure.
func goBenchLines(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "pkg:"):
			keep = append(keep, t)
		case strings.HasPrefix(t, "Benchmark"), strings.HasPrefix(t, "FAIL"), strings.HasPrefix(t, "--- FAIL"):
			keep = append(keep, line)
		}
	}
	// Drop package headers with no benchmark under them.
	var b strings.Builder
	for i, line := range keep {
		if strings.HasPrefix(line, "pkg:") && (i+1 == len(keep) || strings.HasPrefix(keep[i+1], "pkg:")) {
			continue
		}
		if strings.HasPrefix(line, "pkg:") && b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
