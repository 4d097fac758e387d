//go:build !linux

package coldstart

import (
	"context"
	"errors"
)

// Supported reports whether cold starts can be measured here: the Runtime
// Interface Emulator runs on Linux only.
const Supported = false

// ColdStarts needs the Runtime Interface Emulator, which runs on Linux only.
func ColdStarts(ctx context.Context, o Options, bootstraps map[string]string) ([]Measurement, error) {
	return nil, errors.New("coldstart: the Lambda Runtime Interface Emulator runs on Linux only")
}
