//go:build linux

package coldstart

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wxsub/wxsub/dev/localdb"
	"github.com/wxsub/wxsub/dev/rie"
	"github.com/wxsub/wxsub/dev/wechatsim"
)

// Supported reports whether cold starts can be measured here.
const Supported = true

// ColdStarts starts each function's host-architecture bootstrap (by
// logical id) Runs times under the emulator and times each start until the
// first invocation is answered. Each run is a new emulator and a new
// function process, against one in-process DynamoDB (with template.yaml's
// table) and one WeChat simulator, configured as the RIE smoke test does.
func ColdStarts(ctx context.Context, o Options, bootstraps map[string]string) ([]Measurement, error) {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.RIE == "" {
		bin, err := rie.Binary(ctx, filepath.Join(o.Root, "tools"))
		if err != nil {
			return nil, fmt.Errorf("coldstart: %w", err)
		}
		o.RIE = bin
	}
	db, err := localdb.Start("")
	if err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}
	defer db.Close()
	const table = "wxsub"
	if err := localdb.EnsureTable(ctx, db.Client(), o.Template.Table.CreateTableInput(table)); err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}
	sim := wechatsim.New(wechatsim.Config{})
	defer sim.Close()
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	cfg := sim.Config()
	key := make([]byte, 32)
	rand.Read(key)
	base := []string{
		"DYNAMODB_ENDPOINT=" + db.URL,
		"WECHAT_SECRET=" + cfg.Secret,
		"WECHAT_PUSH_TOKEN=" + cfg.PushToken,
		"WECHAT_ENCODING_AES_KEY=" + cfg.EncodingAESKey,
		"SESSION_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(key),
	}
	// What each variable of template.yaml is locally; "" leaves it unset
	// (WXSUB_SECRETS: the secrets are in the environment).
	local := map[string]string{
		"TABLE_NAME": table, "WECHAT_APPID": cfg.AppID, "WECHAT_TOKEN_API": "stable",
		"WECHAT_API_BASE": simSrv.URL, "SESSION_TTL": "168h", "WXSUB_SECRETS": "",
		// Any queue URL: the samples measured queue nothing (no SQS here).
		"BROADCAST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/wxsub-BroadcastQueue-local",
	}
	samples, err := loadSamples(filepath.Join(o.Root, "events"), o.Template)
	if err != nil {
		return nil, err
	}

	var out []Measurement
	for _, fn := range o.Template.Functions {
		m := Measurement{LogicalID: fn.LogicalID}
		bin := bootstraps[fn.LogicalID]
		event, name := pickEvent(fn, samples[fn.LogicalID], o.Prefer)
		m.Event = name
		switch {
		case bin == "":
			m.Problem = "no bootstrap was built"
		case event == nil:
			m.Problem = "no sample event in events/ and no schedule input"
		}
		if m.Problem != "" {
			out = append(out, m)
			continue
		}
		env := slices.Clone(base)
		var unset []string // variables template.yaml resolves in AWS that have no local value
		for k, v := range fn.Env {
			lv, known := local[k]
			switch {
			case known && lv != "":
				env = append(env, k+"="+lv)
			case known:
			case strings.HasPrefix(v, "!"):
				unset = append(unset, k)
			default:
				env = append(env, k+"="+v)
			}
		}
		slices.Sort(unset)
		for run := 0; run < o.Runs; run++ {
			ev := bytes.ReplaceAll(event, []byte("${CODE}"), []byte(loginCode(sim)))
			s, err := coldStart(ctx, rie.Options{RIE: o.RIE, Bootstrap: bin, Name: fn.LogicalID, Timeout: fn.Timeout, Env: env}, ev)
			if err != nil {
				m.Problem = err.Error()
				if len(unset) > 0 {
					m.Problem += " (left unset here, as template.yaml resolves them only in AWS: " + strings.Join(unset, ", ") + ")"
				}
				break
			}
			m.Starts = append(m.Starts, s)
		}
		out = append(out, m)
	}
	return out, nil
}

func loginCode(sim *wechatsim.Sim) string {
	code, _, err := sim.Login("")
	if err != nil {
		return ""
	}
	return code
}

// coldStart starts one emulator with the function and invokes it once.
func coldStart(ctx context.Context, o rie.Options, event []byte) (Start, error) {
	t0 := time.Now()
	e, err := rie.Start(ctx, o)
	if err != nil {
		return Start{}, err
	}
	defer e.Close()
	ready := time.Now()
	res, err := e.Invoke(ctx, event)
	done := time.Now()
	if err != nil {
		return Start{}, err
	}
	if res.Failed() {
		return Start{}, fmt.Errorf("the first invocation failed: %s: %s", res.ErrorType, res.ErrorMessage)
	}
	var http struct {
		StatusCode int `json:"statusCode"`
	}
	if json.Unmarshal(res.Payload, &http) == nil && http.StatusCode >= 500 {
		return Start{}, fmt.Errorf("the first invocation answered HTTP %d", http.StatusCode)
	}
	return Start{Total: done.Sub(t0), Invoke: done.Sub(ready)}, nil
}
