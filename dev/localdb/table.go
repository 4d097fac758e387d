package localdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/wxsub/wxsub/dev/samtemplate"
	"github.com/wxsub/wxsub/shared/store"
)

// Table is a test table, created from template.yaml's definition.
type Table struct {
	Name   string
	Client *dynamodb.Client
	// Streams reads the table's stream.
	Streams *dynamodbstreams.Client
	// Server is the in-process server; nil when DYNAMODB_ENDPOINT names another.
	Server *Server
}

// NewTestTable gives a test its own table: in a fresh in-process server, or,
// when DYNAMODB_ENDPOINT is set, a uniquely named table on that endpoint
// (DynamoDB Local, or a real account), so the same tests run against both.
func NewTestTable(t testing.TB) Table {
	t.Helper()
	ctx := context.Background()
	path, err := samtemplate.Find(".")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var tb Table
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		c, err := store.NewClient(ctx, store.ClientOptions{Endpoint: ep})
		if err != nil {
			t.Fatal(err)
		}
		var b [4]byte
		rand.Read(b[:])
		o := c.Options()
		tb = Table{Name: "wxsub-test-" + hex.EncodeToString(b[:]), Client: c,
			Streams: dynamodbstreams.New(dynamodbstreams.Options{Region: o.Region, BaseEndpoint: o.BaseEndpoint, Credentials: o.Credentials})}
		t.Cleanup(func() {
			c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &tb.Name})
		})
	} else {
		srv, err := Start("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		tb = Table{Name: "wxsub", Client: srv.Client(), Streams: srv.StreamsClient(), Server: srv}
	}
	if err := EnsureTable(ctx, tb.Client, tpl.Table.CreateTableInput(tb.Name)); err != nil {
		t.Fatal(err)
	}
	return tb
}
