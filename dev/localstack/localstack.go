// Package localstack runs the whole of wxsub in one process with no AWS
// account and no Docker: an in-memory DynamoDB-compatible server (unless
// DYNAMODB_ENDPOINT names another), the WeChat simulator (unless
// WECHAT_API_BASE and real credentials are set), every route of template.yaml
// served by the same handlers that deploy, the schedules running, the
// broadcast queue replaced by an in-process one, and the table's stream read
// as Lambda's event source mapping reads it. cmd/wxsub-local wraps it; the
// tests start it in-process.
package localstack

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/wxsub/wxsub/dev/eventsource"
	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/dev/wechatsim"
	"github.com/wxsub/wxsub/shared/backend"
	"github.com/wxsub/wxsub/shared/broadcasts"
	"github.com/wxsub/wxsub/shared/config"
	"github.com/wxsub/wxsub/shared/httpapi"
	"github.com/wxsub/wxsub/shared/refresher"
	"github.com/wxsub/wxsub/shared/store"
)

// Options configures Start.
type Options struct {
	// Getenv reads the configuration (os.Getenv for `make run`).
	Getenv func(string) string
	// Addr and SimAddr override PORT and WECHATSIM_ADDR ("127.0.0.1:0" picks a free port).
	Addr, SimAddr string
	// TemplatePath is template.yaml; empty finds it from the working directory up.
	TemplatePath string
	// LogOutput receives the functions' JSON logs; nil discards them.
	LogOutput io.Writer
	// LogHandler formats the logs; nil means JSON, as in AWS.
	LogHandler backend.HandlerFunc
	// MetricsOutput receives the functions' metrics as EMF lines; nil
	// means LogOutput, where Lambda puts them.
	MetricsOutput io.Writer
	// NoSchedules leaves the schedules to the caller (RunSchedule).
	NoSchedules bool
	// ManualStreams reads the table's stream only when the caller asks
	// (DrainStreams), so that the tally's requests do not mix with those of
	// the requests being measured.
	ManualStreams bool
	// SimConfig adjusts the simulator before it starts (tests set latencies).
	SimConfig func(*wechatsim.Config)
	// WeChatTimeout bounds each WeChat call; zero keeps the client's 10 s.
	WeChatTimeout time.Duration
	// Wrap, when set, wraps the API's handler (the tests record every
	// request and answer with it, to check them against docs/openapi.yaml).
	Wrap func(http.Handler) http.Handler
}

// Stack is a running local wxsub.
type Stack struct {
	// URL is the API base, e.g. http://127.0.0.1:3000.
	URL string
	// SimURL is the simulator's base URL; empty when real WeChat is used.
	SimURL   string
	AdminKey string
	Config   config.Config
	Backend  *backend.Backend
	Template *samtemplate.Template
	// Sim and DB are nil when real WeChat or an external DynamoDB is used.
	Sim *wechatsim.Sim
	DB  *localdb.Server
	// Broadcasts is the broadcast functions' handler. Its queue is
	// BroadcastQueue, which stands in for SQS: it runs the jobs in-process
	// with BroadcastPace.Workers workers, each job through the worker
	// function's SQS handler with a pacer of its own at BroadcastPace's
	// share, as each invocation of the worker function in AWS.
	Broadcasts     *broadcasts.Handler
	BroadcastQueue *broadcasts.LocalQueue
	// BroadcastPace is BROADCAST_RATE and BROADCAST_WORKERS, or template.yaml's defaults.
	BroadcastPace broadcasts.Pace

	functions map[string]Function
	// sources stand in for Lambda's DynamoDB event source mappings.
	sources []*eventsource.Source
	// access records the DynamoDB permissions each function's requests needed.
	access accessLog
	// wechatCalls records each function's calls to WeChat.
	wechatCalls callLog
	// web serves the web page library and its demo (web/) under /web/.
	web    http.Handler
	api    *http.Server
	sim    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// LogValue gives log/slog the stack's addresses and configuration (without
// secrets), never the admin key.
func (s *Stack) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", s.URL), slog.String("sim_url", s.SimURL), slog.Any("config", s.Config))
}

// localProbe is how long a local broadcast worker holds its sends after
// WeChat's 45009 or without a token. The local queue delivers a failed job
// again after 200 ms where SQS waits for the visibility timeout (6 minutes),
// so the holds are scaled down alike.
const localProbe = 100 * time.Millisecond

// Start brings the stack up and returns once every part is listening.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(o.Getenv(name)); v != "" {
			return v
		}
		return def
	}
	tplPath := o.TemplatePath
	if tplPath == "" {
		p, err := samtemplate.Find(".")
		if err != nil {
			return nil, fmt.Errorf("localstack: %w", err)
		}
		tplPath = p
	}
	tpl, err := samtemplate.Load(tplPath)
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	s := &Stack{Template: tpl}
	if dir := filepath.Join(filepath.Dir(tplPath), "web"); isDir(dir) {
		s.web = http.StripPrefix("/web/", http.FileServer(http.Dir(dir)))
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	// WeChat: the simulator unless real WeChat is configured.
	realWeChat := o.Getenv("WECHAT_API_BASE") != "" && o.Getenv("WECHAT_APPID") != "" && o.Getenv("WECHAT_SECRET") != ""
	env := map[string]string{}
	if !realWeChat {
		simCfg := wechatsim.Config{
			AppID: o.Getenv("WECHAT_APPID"), Secret: o.Getenv("WECHAT_SECRET"),
			PushToken: o.Getenv("WECHAT_PUSH_TOKEN"), EncodingAESKey: o.Getenv("WECHAT_ENCODING_AES_KEY"),
			// Pushes come encrypted, in XML, as WeChat's recommended settings send them.
			PushSecure: true,
			// The simulator plays the kind of app the stack serves.
			Kind: get("WECHAT_APP_KIND", wechatsim.KindMiniprogram),
		}
		if o.SimConfig != nil {
			o.SimConfig(&simCfg)
		}
		s.Sim = wechatsim.New(simCfg)
		simAddr := o.SimAddr
		if simAddr == "" {
			simAddr = get("WECHATSIM_ADDR", "127.0.0.1:3001")
		}
		ln, err := net.Listen("tcp", simAddr)
		if err != nil {
			return nil, fmt.Errorf("localstack: simulator listen: %w", err)
		}
		s.SimURL = "http://" + ln.Addr().String()
		s.sim = &http.Server{Handler: s.Sim, ReadHeaderTimeout: 10 * time.Second}
		go s.sim.Serve(ln)
		sc := s.Sim.Config()
		env["WECHAT_API_BASE"] = s.SimURL
		env["WECHAT_APPID"] = sc.AppID
		env["WECHAT_SECRET"] = sc.Secret
		env["WECHAT_PUSH_TOKEN"] = sc.PushToken
		env["WECHAT_ENCODING_AES_KEY"] = sc.EncodingAESKey
	}
	if o.Getenv("SESSION_SIGNING_KEY") == "" {
		env["SESSION_SIGNING_KEY"] = randomKey(32)
	}
	s.AdminKey = get("WXSUB_ADMIN_KEY", randomKey(24))
	env["WXSUB_ADMIN_KEY"] = s.AdminKey
	cfg, err := config.FromEnv(ctx, func(name string) string {
		if v, ok := env[name]; ok {
			return v
		}
		return o.Getenv(name)
	})
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	s.Config = cfg

	// DynamoDB: in-process unless DYNAMODB_ENDPOINT names another.
	// Every function reaches WeChat through one client whose calls are
	// recorded by function (WeChatCalls), and asks the refresher for token
	// fetches as in AWS: by invoking it (here, in-process).
	timeout := 10 * time.Second
	if o.WeChatTimeout > 0 {
		timeout = o.WeChatTimeout
	}
	bo := backend.Options{LogOutput: o.LogOutput, LogHandler: o.LogHandler, MetricsOutput: o.MetricsOutput,
		HTTPClient:   &http.Client{Timeout: timeout, Transport: &s.wechatCalls},
		TokenFetcher: refresher.Client{Call: s.invokeRefresher},
	}
	if s.Sim != nil {
		bo.Clock = s.Sim.Now // reminders fall due by WeChat's clock, which tests move
	}
	if bo.LogOutput == nil {
		bo.LogOutput = io.Discard
	}
	if bo.MetricsOutput == nil {
		bo.MetricsOutput = bo.LogOutput // EMF lines go where Lambda puts them: among the logs
	}
	var db *dynamodb.Client
	var streams *dynamodbstreams.Client
	if cfg.DynamoEndpoint == "" {
		s.DB, err = localdb.Start("")
		if err != nil {
			return nil, fmt.Errorf("localstack: %w", err)
		}
		db, streams = s.DB.Client(), s.DB.StreamsClient()
	} else if db, err = store.NewClient(ctx, store.ClientOptions{Endpoint: cfg.DynamoEndpoint}); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	} else {
		o := db.Options()
		streams = dynamodbstreams.New(dynamodbstreams.Options{Region: o.Region, BaseEndpoint: o.BaseEndpoint, Credentials: o.Credentials})
	}
	if err := localdb.EnsureTable(ctx, db, tpl.Table.CreateTableInput(cfg.Table)); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	bo.DB = recording{api: db, log: &s.access}
	b, err := backend.Open(ctx, cfg, bo)
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	s.Backend = b
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if s.BroadcastPace, err = broadcasts.PaceFromEnv(o.Getenv); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	s.Broadcasts = b.Broadcasts(nil)
	s.Broadcasts.Pacers = broadcasts.NewPacers(s.BroadcastPace.Workers, s.BroadcastPace.Share())
	s.Broadcasts.QuotaProbe, s.Broadcasts.TokenProbe = localProbe, localProbe
	s.functions = Functions(b, s.Broadcasts)
	if err := s.checkRegistry(); err != nil {
		return nil, err
	}
	workerID, worker, err := s.queueHandler("BROADCAST_QUEUE_URL")
	if err != nil {
		return nil, err
	}
	s.BroadcastQueue = broadcasts.NewLocalQueue(runCtx, s.BroadcastPace.Workers, func(ctx context.Context, j broadcasts.Job) error {
		return deliver(withFunction(ctx, workerID), worker, j)
	})
	if s.Sim != nil {
		s.BroadcastQueue.Clock = s.Sim.Now // delays are measured as reminders fall due
	}
	s.Broadcasts.Queue = s.BroadcastQueue
	// The table's stream, read as Lambda's event source mapping reads it.
	for _, fn := range tpl.Functions {
		for _, st := range fn.Streams {
			handle, id := s.functions[fn.LogicalID].Stream, fn.LogicalID
			src := &eventsource.Source{Streams: streams, Table: cfg.Table, BatchSize: st.BatchSize,
				Window: st.BatchingWindow, Latest: st.StartingPosition == "LATEST", Logger: b.Logger,
				Handle: func(ctx context.Context, ev events.DynamoDBEvent) error {
					return handle(withFunction(ctx, id), ev)
				}}
			s.sources = append(s.sources, src)
			if o.ManualStreams {
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				src.Run(runCtx)
			}()
		}
	}

	// The API.
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:" + get("PORT", "3000")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localstack: API listen on %s: %w", addr, err)
	}
	s.URL = "http://" + ln.Addr().String()
	var handler http.Handler = s
	if o.Wrap != nil {
		handler = o.Wrap(s)
	}
	s.api = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		// A stalled body does not hold a connection: the whole request must
		// arrive within ReadTimeout. API Gateway answers within its 30 s
		// integration timeout
		// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html),
		// so an answer may take that long to write.
		ReadTimeout: APIReadTimeout, WriteTimeout: IntegrationTimeout + 5*time.Second, IdleTimeout: time.Minute}
	go s.api.Serve(ln)
	// The simulator pushes its events to the push route, unless told otherwise.
	if s.Sim != nil && s.Sim.Config().PushURL == "" {
		s.Sim.SetPushURL(s.URL + "/v1/wechat/events")
	}

	// Schedules: each runs once now (the token is refreshed at start) and then on its period.
	if !o.NoSchedules {
		for _, fn := range tpl.Functions {
			for _, sch := range fn.Schedules {
				s.wg.Add(1)
				go s.runSchedule(runCtx, fn.LogicalID, sch)
			}
		}
	}
	ok = true
	return s, nil
}

func randomKey(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	if n >= 32 {
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// checkRegistry fails when template.yaml and the registered handlers disagree.
func (s *Stack) checkRegistry() error {
	var problems []string
	inTemplate := map[string]bool{}
	for _, fn := range s.Template.Functions {
		inTemplate[fn.LogicalID] = true
		f, ok := s.functions[fn.LogicalID]
		if !ok {
			problems = append(problems, fn.LogicalID+" has no handler")
			continue
		}
		if len(fn.Routes) > 0 && f.HTTP == nil {
			problems = append(problems, fn.LogicalID+" has routes but no HTTP handler")
		}
		if len(fn.Schedules) > 0 && f.Scheduled == nil {
			problems = append(problems, fn.LogicalID+" has schedules but no scheduled handler")
		}
		if len(fn.Queues) > 0 && f.Queue == nil {
			problems = append(problems, fn.LogicalID+" consumes a queue but has no queue handler")
		}
		if len(fn.Streams) > 0 && f.Stream == nil {
			problems = append(problems, fn.LogicalID+" reads the table's stream but has no stream handler")
		}
	}
	for id := range s.functions {
		if !inTemplate[id] {
			problems = append(problems, id+" has a handler but is not in template.yaml")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("localstack: template.yaml and handlers disagree: %s", strings.Join(problems, "; "))
	}
	return nil
}

// queueHandler returns the logical id and the queue handler of the function
// that consumes the queue which template.yaml names in the environment
// variable env (env: !Ref <queue>).
func (s *Stack) queueHandler(env string) (string, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	queue := ""
	for _, fn := range s.Template.Functions {
		ref, ok := strings.CutPrefix(fn.Env[env], "!Ref ")
		if !ok {
			continue
		}
		if queue != "" && ref != queue {
			return "", nil, fmt.Errorf("localstack: template.yaml sets %s to both %s and %s", env, queue, ref)
		}
		queue = ref
	}
	if queue == "" {
		return "", nil, fmt.Errorf("localstack: no function of template.yaml sets %s: !Ref <queue>", env)
	}
	for _, fn := range s.Template.Functions {
		for _, q := range fn.Queues {
			if q.Resource == queue {
				return fn.LogicalID, s.functions[fn.LogicalID].Queue, nil
			}
		}
	}
	return "", nil, fmt.Errorf("localstack: no function of template.yaml consumes %s, the queue of %s", queue, env)
}

func (s *Stack) runSchedule(ctx context.Context, logicalID string, sch samtemplate.Schedule) {
	defer s.wg.Done()
	every := sch.Every
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.RunSchedule(ctx, logicalID); err != nil && ctx.Err() == nil {
			s.Backend.Logger.Error("scheduled run failed", "function", logicalID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// timeout is a function's Timeout in template.yaml.
func (s *Stack) timeout(logicalID string) time.Duration {
	for _, fn := range s.Template.Functions {
		if fn.LogicalID == logicalID {
			return fn.Timeout
		}
	}
	return samtemplate.DefaultTimeout
}

// invokeRefresher invokes the function that template.yaml names in
// WXSUB_REFRESHER, synchronously, as the refresher's Lambda client does in
// AWS; the caller needs lambda:InvokeFunction on it.
func (s *Stack) invokeRefresher(ctx context.Context, payload []byte) ([]byte, error) {
	id := ""
	for _, fn := range s.Template.Functions {
		if ref, ok := strings.CutPrefix(fn.Env["WXSUB_REFRESHER"], "!Ref "); ok {
			id = ref
		}
	}
	f, ok := s.functions[id]
	if !ok || f.Invoke == nil {
		return nil, fmt.Errorf("localstack: no function of template.yaml is named by WXSUB_REFRESHER: !Ref <function> with an Invoke handler")
	}
	s.access.add(ctx, Access{Action: "lambda:InvokeFunction", Resource: id})
	return f.Invoke(withFunction(ctx, id), payload)
}

// WeChatCalls returns how many calls each function made to each WeChat API
// path since the stack started ("(no function)" for the stack's own).
func (s *Stack) WeChatCalls() map[string]map[string]int { return s.wechatCalls.snapshot() }

// DrainStreams waits until the functions that read the table's stream have
// been handed every record written so far (today's counts and broadcasts'
// counts are then up to date).
func (s *Stack) DrainStreams(ctx context.Context) error {
	for _, src := range s.sources {
		if err := src.Drain(ctx); err != nil {
			return fmt.Errorf("localstack: %w", err)
		}
	}
	return nil
}

// RunSchedule invokes a scheduled function once, as EventBridge would.
func (s *Stack) RunSchedule(ctx context.Context, logicalID string) error {
	f, ok := s.functions[logicalID]
	if !ok || f.Scheduled == nil {
		return fmt.Errorf("localstack: %s is not a scheduled function", logicalID)
	}
	return f.Scheduled(withFunction(ctx, logicalID))
}

// Close stops everything the stack started.
func (s *Stack) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	// The simulator first: its pushes in flight still need the API.
	if s.Sim != nil {
		s.Sim.Close()
	}
	var errs []error
	for _, srv := range []*http.Server{s.sim, s.api} {
		if srv != nil {
			errs = append(errs, stop(srv))
		}
	}
	if s.DB != nil {
		errs = append(errs, s.DB.Close())
	}
	return errors.Join(errs...)
}

// stop shuts srv down, giving requests in flight a moment, then closes
// whatever connections are left (idle keep-alives of finished clients).
func stop(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

// ServeHTTP answers an API request the way API Gateway would: it matches a
// route of template.yaml, checks the admin key on IAM routes, and invokes the
// function's handler with a payload 2.0 event.
func (s *Stack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.web != nil && strings.HasPrefix(r.URL.Path, "/web/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// Not a route of template.yaml: the official account's web page
		// (your own site in production), served from the API's origin so
		// that the demo works against `make run`.
		w.Header().Set("Cache-Control", "no-store")
		s.web.ServeHTTP(w, r)
		return
	}
	fn, route, params, ok := s.match(r.Method, r.URL.Path)
	if !ok {
		writeResponse(w, httpapi.Errorf(http.StatusNotFound, "not_found",
			"no route %s %s; see the route table in README.md", r.Method, r.URL.Path).Response())
		return
	}
	if route.IAM && !s.adminAuthorized(r) {
		writeResponse(w, httpapi.Errorf(http.StatusUnauthorized, "unauthorized",
			"server routes need Authorization: Bearer <WXSUB_ADMIN_KEY> locally (IAM SigV4 in AWS)").Response())
		return
	}
	if isClientRoute(route) && s.Backend.Sessions != nil {
		// The session first: a client route reads no body for a caller it
		// would refuse (the function checks the session before the body too).
		probe := httpapi.Request{Headers: map[string]string{"authorization": r.Header.Get("Authorization")}}
		if _, err := httpapi.Session(probe, s.Backend.Sessions, s.Config.AppID); err != nil {
			var herr *httpapi.Error
			if errors.As(err, &herr) {
				writeResponse(w, herr.Response())
				return
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20+1))
	if err != nil {
		writeResponse(w, httpapi.Errorf(http.StatusBadRequest, "invalid_body", "the body could not be read").Response())
		return
	}
	if len(body) > 10<<20 {
		writeResponse(w, httpapi.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "API Gateway accepts at most 10 MB").Response())
		return
	}
	ev := toEvent(r, route, params, body)
	if route.IAM {
		ev.RequestContext.Authorizer = iamAuthorizer()
	}
	// The function has its Timeout, as in Lambda, whose context carries
	// the deadline.
	ctx, cancel := context.WithTimeout(withFunction(r.Context(), fn), s.timeout(fn))
	defer cancel()
	resp, err := s.functions[fn].HTTP(ctx, ev)
	if err != nil {
		s.Backend.Logger.Error("function failed", "function", fn, "err", err)
		writeResponse(w, httpapi.Errorf(http.StatusInternalServerError, "internal", "Internal Server Error").Response())
		return
	}
	writeResponse(w, resp)
}

// Timeouts of the local API server, after API Gateway's.
const (
	// IntegrationTimeout is API Gateway's limit on a function's answer.
	IntegrationTimeout = 30 * time.Second
	// APIReadTimeout bounds reading one request, body included.
	APIReadTimeout = 10 * time.Second
)

// isClientRoute reports whether route is one the mini-program calls with a
// session: no IAM, and neither the login, the JS-SDK configuration nor
// WeChat's push route.
func isClientRoute(route samtemplate.Route) bool {
	return !route.IAM && route.Path != "/v1/session" && route.Path != "/v1/jssdk-config" && !strings.HasPrefix(route.Path, "/v1/wechat/")
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func (s *Stack) adminAuthorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(p):])), []byte(s.AdminKey)) == 1
}

func (s *Stack) match(method, path string) (fn string, route samtemplate.Route, params map[string]string, ok bool) {
	for _, f := range s.Template.Functions {
		if r, p, found := samtemplate.MatchRoute(f.Routes, method, path); found {
			return f.LogicalID, r, p, true
		}
	}
	return "", samtemplate.Route{}, nil, false
}
