// Package cli is the `wxsub` command: the server routes of a wxsub stack from
// a terminal, on top of the Go client (wxsubclient). It points at the local
// stack (`make run`) by default, and at a deployed stack by its URL (--url)
// or its CloudFormation stack name (--stack, whose ApiUrl output it reads).
// Answers print as tables, or as JSON with --json.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/spf13/cobra"

	"github.com/wxsub/wxsub/wxsubclient"
)

// DefaultURL is the local stack's API (`make run`).
const DefaultURL = "http://127.0.0.1:3000"

// globals are the flags every command takes.
type globals struct {
	url, stack, adminKey, region string
	json                         bool
	getenv                       func(string) string
	out, errOut                  io.Writer
}

// New returns the root command. getenv reads WXSUB_URL and WXSUB_ADMIN_KEY
// (os.Getenv in main); out and errOut receive the answers and the progress.
func New(getenv func(string) string, out, errOut io.Writer) *cobra.Command {
	g := &globals{getenv: getenv, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "wxsub",
		Short: "Call a wxsub stack's server routes: send, read messages and ledgers, broadcast, templates, quota",
		Long: `wxsub calls the server routes of a wxsub stack.

By default it talks to the local stack (make run) at ` + DefaultURL + `, with the
admin key it printed (--admin-key or WXSUB_ADMIN_KEY). Point it at a deployed
stack with --url (its ApiUrl output) or --stack (the CloudFormation stack
name); requests are then signed with AWS SigV4 from the default credential
chain (AWS_PROFILE, environment, SSO, instance role).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.url, "url", "", "the stack's API URL (default $WXSUB_URL, else "+DefaultURL+")")
	pf.StringVar(&g.stack, "stack", "", "a deployed CloudFormation stack's name: its ApiUrl output is the URL")
	pf.StringVar(&g.adminKey, "admin-key", "", "the local stack's admin key (default $WXSUB_ADMIN_KEY)")
	pf.StringVar(&g.region, "region", "", "the AWS region of --stack (default: from the URL or the AWS configuration)")
	pf.BoolVar(&g.json, "json", false, "print the answers as JSON (for scripts)")
	root.MarkFlagsMutuallyExclusive("url", "stack")
	root.AddCommand(sendCmd(g), cancelCmd(g), messageCmd(g), userCmd(g), broadcastCmd(g), templatesCmd(g), quotaCmd(g))
	return root
}

// client builds the client the flags describe: the admin key when there is
// one, else SigV4 with the default credential chain.
func (g *globals) client(ctx context.Context) (*wxsubclient.Client, error) {
	base := g.url
	if g.stack != "" {
		u, err := g.stackURL(ctx)
		if err != nil {
			return nil, err
		}
		base = u
	}
	if base == "" {
		base = g.getenv("WXSUB_URL")
	}
	if base == "" {
		base = DefaultURL
	}
	if key := g.adminKeyFor(base); key != "" {
		return wxsubclient.Local(base, key)
	}
	if isLoopback(base) {
		return nil, fmt.Errorf("the local stack at %s needs its admin key: --admin-key or WXSUB_ADMIN_KEY (make run prints it)", base)
	}
	var opts []wxsubclient.Option
	if g.region != "" && wxsubclient.RegionOf(base) == "" {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(g.region))
		if err != nil {
			return nil, fmt.Errorf("loading AWS configuration: %w", err)
		}
		opts = append(opts, wxsubclient.WithSigV4(cfg.Credentials, g.region))
	}
	return wxsubclient.Deployed(ctx, base, opts...)
}

// adminKeyFor returns the admin key to call base with: --admin-key, else
// WXSUB_ADMIN_KEY for a local stack only (a key left in the shell from make
// run must not reach a deployed stack, which takes SigV4); "" for SigV4.
func (g *globals) adminKeyFor(base string) string {
	if g.adminKey != "" {
		return g.adminKey
	}
	if isLoopback(base) {
		return g.getenv("WXSUB_ADMIN_KEY")
	}
	return ""
}

// stackURL reads the ApiUrl output of the CloudFormation stack --stack.
func (g *globals) stackURL(ctx context.Context) (string, error) {
	var opts []func(*config.LoadOptions) error
	if g.region != "" {
		opts = append(opts, config.WithRegion(g.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("loading AWS configuration: %w", err)
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &g.stack})
	if err != nil {
		return "", fmt.Errorf("reading stack %s: %w", g.stack, err)
	}
	for _, s := range out.Stacks {
		for _, o := range s.Outputs {
			if o.OutputKey != nil && *o.OutputKey == "ApiUrl" && o.OutputValue != nil {
				return *o.OutputValue, nil
			}
		}
	}
	return "", fmt.Errorf("stack %s has no ApiUrl output: is it a wxsub stack?", g.stack)
}

func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// print writes v as JSON with --json, else as the table render writes.
func (g *globals) print(v any, render func(w io.Writer)) error {
	if g.json {
		enc := json.NewEncoder(g.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	render(g.out)
	return nil
}

// Explain turns an error of a command into the lines printed for it: the
// code, the message, WeChat's answer, each detail, and when to retry.
func Explain(err error) string {
	var e *wxsubclient.Error
	if !errors.As(err, &e) {
		return "wxsub: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wxsub: HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	fmt.Fprintf(&b, ": %s\n", e.Message)
	if e.WeChat != nil {
		fmt.Fprintf(&b, "  WeChat answered %d %s\n", e.WeChat.ErrCode, e.WeChat.ErrMsg)
	}
	for _, d := range e.Details {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "  retry after %s\n", e.RetryAfter)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
