package wait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxsub/wxsub/shared/wait"
)

func TestSleepEndsWithItsContext(t *testing.T) {
	if err := wait.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a short sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- wait.Sleep(ctx, time.Hour) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled sleep answered %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a sleep outlived its context")
	}
}
