// Package catalog is the app's template catalogue: the templates WeChat's
// gettemplate lists, stored in DynamoDB and cached in memory, so that reports
// know one-time from long-term templates and sends are validated before a
// 47003 burns the attempt.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wxsub/wxsub/shared/keyword"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wechat"
)

// DefaultTTL is how long a process trusts its in-memory copy.
const DefaultTTL = time.Minute

// Catalog reads the stored catalogue through a short in-memory cache.
type Catalog struct {
	appid string
	store *store.Store
	ttl   time.Duration
	now   func() time.Time

	mu     sync.Mutex
	cached []store.Template
	at     time.Time
}

// New returns a Catalog for appid.
func New(appid string, st *store.Store, ttl time.Duration) *Catalog {
	return &Catalog{appid: appid, store: st, ttl: ttl, now: time.Now}
}

// All returns every template of the app, ordered by id; empty before the first sync.
func (c *Catalog) All(ctx context.Context) ([]store.Template, error) {
	c.mu.Lock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.ttl {
		ts := c.cached
		c.mu.Unlock()
		return ts, nil
	}
	c.mu.Unlock()
	ts, err := c.store.Templates(ctx, c.appid)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	c.mu.Lock()
	c.cached, c.at = ts, c.now()
	c.mu.Unlock()
	return ts, nil
}

// Lookup finds one template. synced is false when the catalogue is empty (never
// synced), in which case callers let the template through unchecked.
func (c *Catalog) Lookup(ctx context.Context, id string) (t store.Template, found, synced bool, err error) {
	ts, err := c.All(ctx)
	if err != nil {
		return store.Template{}, false, false, err
	}
	for _, t := range ts {
		if t.ID == id {
			return t, true, true, nil
		}
	}
	return store.Template{}, false, len(ts) > 0, nil
}

// Kind is the template's kind; one-time when the catalogue does not know it.
func (c *Catalog) Kind(ctx context.Context, id string) (ledger.Kind, error) {
	t, found, _, err := c.Lookup(ctx, id)
	if err != nil || !found {
		return ledger.OneTime, err
	}
	return ledger.KindOf(t.Type), nil
}

// Invalidate drops the in-memory copy.
func (c *Catalog) Invalidate() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

// Validate checks send data against a template's keywords with WeChat's rules.
func Validate(t store.Template, data map[string]string) []keyword.Problem {
	return keyword.Validate(specs(t), data)
}

// Extra returns the keys of data that the template does not have, sorted
// (see keyword.Extra).
func Extra(t store.Template, data map[string]string) []string {
	return keyword.Extra(specs(t), data)
}

func specs(t store.Template) []keyword.Spec {
	out := make([]keyword.Spec, len(t.Keywords))
	for i, k := range t.Keywords {
		out[i] = keyword.Spec{Key: k.Key, Enum: k.Enum}
	}
	return out
}

// FromWeChat converts a gettemplate entry to a catalogue entry.
func FromWeChat(t wechat.Template, syncedAt time.Time) store.Template {
	out := store.Template{ID: t.ID, Title: t.Title, Type: int(t.Type), SyncedAt: syncedAt}
	for _, k := range t.Keywords {
		kt, _ := keyword.TypeOf(k.Key)
		out.Keywords = append(out.Keywords, store.Keyword{
			Key: k.Key, Name: k.Name, Type: string(kt), MaxLen: keyword.MaxLen(kt), Enum: k.Enum,
		})
	}
	return out
}

// ErrEmptyAnswer is Sync's refusal of a gettemplate answer that lists no
// template while the catalogue holds some: one bad answer must not wipe the
// catalogue (and with it the validation of sends and the kinds of rows).
var ErrEmptyAnswer = errors.New("catalog: gettemplate listed no template while the catalogue holds some; the catalogue is unchanged")

// Sync pulls gettemplate with accessToken, stores every template and deletes
// the entries WeChat no longer lists. It returns the templates ordered by id.
// An answer listing no template while the catalogue holds some changes
// nothing and returns ErrEmptyAnswer.
func (c *Catalog) Sync(ctx context.Context, wc *wechat.Client, accessToken string) ([]store.Template, error) {
	wts, err := wc.Templates(ctx, accessToken)
	if err != nil {
		return nil, fmt.Errorf("catalog: gettemplate: %w", err)
	}
	stored, err := c.store.Templates(ctx, c.appid)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if len(wts) == 0 && len(stored) > 0 {
		return nil, ErrEmptyAnswer
	}
	now := c.now().UTC()
	out := make([]store.Template, 0, len(wts))
	listed := make(map[string]bool, len(wts))
	for _, wt := range wts {
		t := FromWeChat(wt, now)
		if err := c.store.PutTemplate(ctx, c.appid, t); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		out = append(out, t)
		listed[t.ID] = true
	}
	for _, t := range stored {
		if !listed[t.ID] {
			if err := c.store.DeleteTemplate(ctx, c.appid, t.ID); err != nil {
				return nil, fmt.Errorf("catalog: %w", err)
			}
		}
	}
	c.Invalidate()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
