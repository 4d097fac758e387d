# wxsub — see README.md. `make run` starts the whole product locally; `make test` proves it.
GO        ?= go
GOFLAGS   ?=
PKGS      := ./...
FUNCTIONS := session subscriptions send refresh-token

.PHONY: run test test-go test-js vet fmt-check bench fuzz build clean

run:
	$(GO) run ./cmd/wxsub-local

test: fmt-check vet test-go test-js

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test-go:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-js:
	@if [ -d miniprogram/test ]; then node --test miniprogram/test/; else echo "no JS tests yet"; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	@echo "fuzz targets are added with the packages that own them"

clean:
	rm -rf .aws-sam bin

# --- Lambda builds -----------------------------------------------------------
# `sam build` (BuildMethod: makefile, CodeUri: .) runs `make build-<LogicalId>`
# with ARTIFACTS_DIR set; each function is one line here and one folder in
# FUNCTIONS. `make build` writes every bootstrap to bin/<folder>/.
# LAMBDA_GOARCH=amd64 builds for the host (the RIE smoke test does).
LAMBDA_GOARCH ?= arm64
# $(call lambda-build,<folder under functions/>,<output dir>)
lambda-build = GOOS=linux GOARCH=$(LAMBDA_GOARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -ldflags='-s -w' -o $(2)/bootstrap ./functions/$(1)
artifacts = $(or $(ARTIFACTS_DIR),bin/$(1))

.PHONY: build-SessionFunction build-SubscriptionsFunction build-SendFunction build-RefreshTokenFunction FORCE

build-SessionFunction:       ; $(call lambda-build,session,$(call artifacts,session))
build-SubscriptionsFunction: ; $(call lambda-build,subscriptions,$(call artifacts,subscriptions))
build-SendFunction:          ; $(call lambda-build,send,$(call artifacts,send))
build-RefreshTokenFunction:  ; $(call lambda-build,refresh-token,$(call artifacts,refresh-token))

build: $(FUNCTIONS:%=bin/%/bootstrap)

bin/%/bootstrap: FORCE
	$(call lambda-build,$*,$(@D))

FORCE:
