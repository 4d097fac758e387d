package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/wxsub/wxsub/wxsubclient"
)

// dataFlags reads a template's data from repeated --data key=value and
// --data-json '{"key":"value"}'.
type dataFlags struct {
	pairs []string
	raw   string
}

func (d *dataFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&d.pairs, "data", "d", nil, "a keyword's value, key=value (repeat for each keyword)")
	cmd.Flags().StringVar(&d.raw, "data-json", "", `all keywords as a JSON object, {"thing2":"…"} or {"thing2":{"value":"…"}}`)
}

func (d *dataFlags) values() (map[string]string, error) {
	out := map[string]string{}
	if d.raw != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(d.raw), &m); err != nil {
			return nil, fmt.Errorf("--data-json is not a JSON object: %w", err)
		}
		for k, raw := range m {
			var s string
			var v struct {
				Value string `json:"value"`
			}
			switch {
			case json.Unmarshal(raw, &s) == nil:
				out[k] = s
			case json.Unmarshal(raw, &v) == nil:
				out[k] = v.Value
			default:
				return nil, fmt.Errorf("--data-json: %s must be a string or {\"value\":\"…\"}", k)
			}
		}
	}
	for _, p := range d.pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--data %q: write key=value, e.g. --data thing2=无线蓝牙耳机", p)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no data: give each keyword with --data key=value (wxsub templates lists them)")
	}
	return out, nil
}

func table(w io.Writer, write func(tw *tabwriter.Writer)) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	write(tw)
	tw.Flush()
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func credits(c *int64) string {
	if c == nil {
		return "long-term"
	}
	return fmt.Sprint(*c)
}

func sendCmd(g *globals) *cobra.Command {
	var r wxsubclient.SendRequest
	var d dataFlags
	var sendAt string
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send a subscription message to one user (POST /v1/messages)",
		Example: `  wxsub send --to oSimU0d3kqZ1r7N2mYbXc4Ae9PwQ --template RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI \
    -d character_string1=SO20240518001 -d thing2=无线蓝牙耳机 -d amount3=¥199.00 \
    -d date4=2024年5月18日 -d phrase5=已发货 --idempotency-key order-SO20240518001-shipped`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := d.values()
			if err != nil {
				return err
			}
			r.Data = data
			if sendAt != "" {
				at, err := time.Parse(time.RFC3339, sendAt)
				if err != nil {
					return fmt.Errorf("--send-at must be an RFC 3339 time with an offset, such as 2027-01-02T20:00:00+08:00")
				}
				r.SendAt = &at
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Send(cmd.Context(), r)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				table(w, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "message\t%s\nstatus\t%s\ncredits left\t%s\n", res.MessageID, res.Status, credits(res.CreditsLeft))
					if res.SendAt != "" {
						fmt.Fprintf(tw, "send at\t%s\n", res.SendAt)
					}
					for _, wa := range res.Warnings {
						fmt.Fprintf(tw, "warning\t%s %s: %s\n", wa.Code, wa.Key, wa.Message)
					}
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.ToUser, "to", "", "the user's openid (required)")
	f.StringVar(&r.TemplateID, "template", "", "the template id (required)")
	f.StringVar(&r.Page, "page", "", "the mini-program page the message opens, e.g. pages/index/index")
	f.StringVar(&r.MiniprogramState, "state", "", "developer, trial or formal (default formal)")
	f.StringVar(&r.Lang, "lang", "", "zh_CN (default), en_US, zh_HK or zh_TW")
	f.StringVar(&r.IdempotencyKey, "idempotency-key", "", "a repeat with the same key within 24 h answers the first answer and sends nothing")
	f.StringVar(&sendAt, "send-at", "", "a reminder: send at this RFC 3339 time (1 minute to 1 year ahead), holding the user's credit until then")
	d.add(cmd)
	cmd.MarkFlagRequired("to")
	cmd.MarkFlagRequired("template")
	return cmd
}

func cancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel <message_id>",
		Short: "Cancel a scheduled reminder, giving its credit back (DELETE /v1/messages/{id})",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			m, err := c.CancelMessage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(m, func(w io.Writer) {
				table(w, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "message\t%s\nstatus\t%s\nreason\t%s\n", m.MessageID, m.Status, m.Reason)
				})
			})
		},
	}
}

func messageCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "message <message_id>",
		Short: "Show a message and how it ended (GET /v1/messages/{id})",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			m, err := c.Message(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(m, func(w io.Writer) {
				table(w, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "message\t%s\nuser\t%s\ntemplate\t%s\nstatus\t%s\n", m.MessageID, m.ToUser, m.TemplateID, m.Status)
					if m.ErrCode != 0 || m.ErrMsg != "" {
						fmt.Fprintf(tw, "errcode\t%d %s\n", m.ErrCode, m.ErrMsg)
					}
					if m.WeChatMsgID != "" {
						fmt.Fprintf(tw, "wechat msgid\t%s\n", m.WeChatMsgID)
					}
					if m.BroadcastID != "" {
						fmt.Fprintf(tw, "broadcast\t%s\n", m.BroadcastID)
					}
					fmt.Fprintf(tw, "created\t%s\nupdated\t%s\n", m.CreatedAt, m.UpdatedAt)
				})
			})
		},
	}
}

func userCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "user <openid>",
		Short: "Show a user's subscriptions and credits (GET /v1/users/{openid}/subscriptions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			l, err := c.UserSubscriptions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(l, func(w io.Writer) {
				fmt.Fprintf(w, "user %s\n", l.OpenID)
				table(w, func(tw *tabwriter.Writer) {
					// The title last: tabwriter counts a Chinese character as one
					// column where a terminal shows two.
					fmt.Fprintln(tw, "TEMPLATE\tTYPE\tSTATUS\tCREDITS\tUPDATED\tTITLE")
					for _, s := range l.Subscriptions {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.TemplateID, s.Type, orDash(s.Status), credits(s.Credits), orDash(s.UpdatedAt), s.Title)
					}
				})
			})
		},
	}
}

func broadcastCmd(g *globals) *cobra.Command {
	var r wxsubclient.BroadcastRequest
	var d dataFlags
	var follow string
	var noWait bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "broadcast",
		Short: "Send a message to every user who may receive it, and follow it to done (POST /v1/broadcasts)",
		Long: `broadcast queues a message for every user holding a credit for the template
(or a long-term accept), then follows GET /v1/broadcasts/{id} with a progress
bar until every queued user has an outcome. --follow <id> follows an existing
broadcast; --no-wait prints the id and returns.`,
		Example: `  wxsub broadcast --template RaAXmaHZ6OFYKcCbG9rsyEpBqsERIZsLLga8-KL5xqI -d thing2=无线蓝牙耳机 ...
  wxsub broadcast --follow b_01JDZ9A1M8C3E5G7J9L2N4Q6S8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			id := follow
			if id == "" {
				if r.TemplateID == "" {
					return fmt.Errorf("give --template (and its --data), or --follow <broadcast id>")
				}
				if r.Data, err = d.values(); err != nil {
					return err
				}
				if id, err = c.Broadcast(ctx, r); err != nil {
					return err
				}
				if noWait {
					return g.print(map[string]string{"broadcast_id": id}, func(w io.Writer) { fmt.Fprintln(w, id) })
				}
				if !g.json {
					fmt.Fprintf(g.errOut, "broadcast %s queued\n", id)
				}
			}
			st, err := g.followBroadcast(cmd, c, id, every)
			if err != nil {
				return err
			}
			return g.print(st, func(w io.Writer) { printBroadcast(w, st) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.TemplateID, "template", "", "the template id")
	f.StringVar(&r.Page, "page", "", "the mini-program page the message opens")
	f.StringVar(&r.MiniprogramState, "state", "", "developer, trial or formal (default formal)")
	f.StringVar(&r.Lang, "lang", "", "zh_CN (default), en_US, zh_HK or zh_TW")
	f.StringVar(&follow, "follow", "", "follow an existing broadcast by its id instead of starting one")
	f.BoolVar(&noWait, "no-wait", false, "print the broadcast's id and return without following it")
	f.DurationVar(&every, "every", time.Second, "how often to read the broadcast's counts")
	d.add(cmd)
	cmd.MarkFlagsMutuallyExclusive("follow", "template")
	return cmd
}

// followBroadcast reads the broadcast until it is done, drawing a progress
// bar of the users with an outcome out of those queued (none with --json).
func (g *globals) followBroadcast(cmd *cobra.Command, c *wxsubclient.Client, id string, every time.Duration) (*wxsubclient.BroadcastState, error) {
	ctx := cmd.Context()
	var bar *progressbar.ProgressBar
	if !g.json {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(g.errOut), progressbar.OptionSetDescription("queued"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(0),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(g.errOut) }))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st, err := c.BroadcastStatus(ctx, id)
		if err != nil {
			return nil, err
		}
		if bar != nil {
			if st.State != "queued" && bar.GetMax64() != st.Queued {
				bar.ChangeMax64(max(st.Queued, 1))
			}
			bar.Describe(fmt.Sprintf("%s: sent %d, no credit %d, failed %d, unknown %d", st.State, st.Sent, st.NoCredit, st.Failed, st.Unknown))
			bar.Set64(st.Finished())
		}
		if st.Done() {
			if bar != nil {
				bar.Finish()
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func printBroadcast(w io.Writer, st *wxsubclient.BroadcastState) {
	table(w, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "broadcast\t%s\ntemplate\t%s\nstate\t%s\nqueued\t%d\nsent\t%d\nno credit\t%d\nfailed\t%d\nunknown\t%d\ncreated\t%s\n",
			st.BroadcastID, st.TemplateID, st.State, st.Queued, st.Sent, st.NoCredit, st.Failed, st.Unknown, st.CreatedAt)
	})
}

func templatesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "templates",
		Short: "Sync the template catalogue from WeChat and list it (POST /v1/templates/sync)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			cat, err := c.SyncTemplates(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cat, func(w io.Writer) {
				table(w, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "TEMPLATE\tTYPE\tTITLE: KEYWORDS")
					for _, t := range cat.Templates {
						var ks []string
						for _, k := range t.Keywords {
							rule := k.Type
							switch {
							case len(k.Enum) > 0:
								rule = strings.Join(k.Enum, "|")
							case k.MaxLen > 0:
								rule = fmt.Sprintf("%s≤%d", k.Type, k.MaxLen)
							}
							ks = append(ks, fmt.Sprintf("%s %s (%s)", k.Key, k.Name, rule))
						}
						fmt.Fprintf(tw, "%s\t%s\t%s: %s\n", t.ID, t.Type, t.Title, strings.Join(ks, ", "))
					}
				})
				fmt.Fprintf(w, "synced %s\n", orDash(cat.SyncedAt))
			})
		},
	}
}

func quotaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "quota",
		Short: "Show WeChat's quotas and today's counts (GET /v1/quota)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			q, err := c.Quota(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(q, func(w io.Writer) {
				paths := make([]string, 0, len(q.WeChat))
				for p := range q.WeChat {
					paths = append(paths, p)
				}
				sort.Strings(paths)
				table(w, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "WECHAT API\tDAILY LIMIT\tUSED\tREMAIN\tRATE")
					for _, p := range paths {
						pq := q.WeChat[p]
						if pq.Error != nil {
							fmt.Fprintf(tw, "%s\t(%s: %s)\t\t\t\n", p, pq.Error.Code, pq.Error.Message)
							continue
						}
						rate := "-"
						if pq.RateLimit != nil {
							rate = fmt.Sprintf("%d per %ds", pq.RateLimit.CallCount, pq.RateLimit.RefreshSecond)
						}
						fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", p, pq.DailyLimit, pq.Used, pq.Remain, rate)
					}
				})
				t := q.Today
				failed := make([]string, 0, len(t.Failed))
				for code, n := range t.Failed {
					failed = append(failed, fmt.Sprintf("%s×%d", code, n))
				}
				sort.Strings(failed)
				if len(failed) == 0 {
					failed = []string{"0"}
				}
				fmt.Fprintf(w, "\ntoday (%s, China time)\n", t.Day)
				table(w, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "sent\t%d\nunknown\t%d\nfailed\t%s\ncredits granted\t%d\ncredits spent\t%d\ncredits released\t%d\n",
						t.Sent, t.Unknown, strings.Join(failed, " "), t.Granted, t.Spent, t.Released)
				})
			})
		},
	}
}
