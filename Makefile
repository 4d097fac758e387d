# wxsub — see README.md. `make run` starts the whole product locally; `make test` proves it.
GO        ?= go
GOFLAGS   ?=
PKGS      := ./...
FUNCTIONS := login subscriptions messages refresher templates quota pushevents broadcasts broadcasts-worker sweep tally reminders jssdk

.PHONY: run demo test test-go test-js vet staticcheck fmt-check lint-template bench fuzz build clean

run: demo
	$(GO) run ./cmd/wxsub-local

# The demo mini-program's copy of the library, made from the one source
# (WeChat DevTools packages only files inside the project).
demo: miniprogram/demo/wxsub.js
miniprogram/demo/wxsub.js: miniprogram/wxsub.js
	cp $< $@

test: fmt-check vet staticcheck lint-template test-go test-js

# cfn-lint (the Python package, 1.x; it runs the SAM transform) must report
# nothing, for a global region and both AWS China regions. Install it with `pipx install cfn-lint` (or pip) if you have not.
lint-template:
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is not installed: pipx install cfn-lint"; exit 1; }
	cfn-lint template.yaml --regions us-east-1 cn-north-1 cn-northwest-1

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# staticcheck is pinned in the tools module (tools/go.mod, a `tool` line), so
# the main module does not depend on it: `go tool -n` builds it there (cached
# after the first time) and prints its path; it then checks this module.
staticcheck:
	@sc="$$(cd tools && $(GO) tool -n staticcheck)" || exit 1; "$$sc" $(PKGS)

test-go:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# The mini-program library's tests and the web page library's (web/, for
# official accounts); the web demo also runs in headless Chromium from Go
# (dev/localstack, TestDemoPageInHeadlessChromium).
test-js: demo
	node --test miniprogram/test/ web/test/

# The Go micro-benchmarks, then cmd/wxsub-bench (load, token calls, sizes,
# cold starts); both end up in docs/performance.md.
bench:
	@mkdir -p bin
	@$(GO) test -run '^$$' -bench . -benchmem $(PKGS) > bin/gobench.txt; s=$$?; cat bin/gobench.txt; exit $$s
	$(GO) run ./cmd/wxsub-bench -out docs/performance.md -gobench bin/gobench.txt

# Every Fuzz target of the module, found with `go test -list`, fuzzed for
# FUZZTIME each. Their seed corpora (testdata/fuzz/) already run in `make test`.
FUZZTIME ?= 20s

fuzz:
	@list="$$($(GO) test -list '^Fuzz' $(PKGS))" || { echo "$$list"; exit 1; }; \
	targets="$$(echo "$$list" | awk '/^Fuzz/ { n++; names[n] = $$1; next } /^ok / { for (i = 1; i <= n; i++) print $$2, names[i]; n = 0 }')"; \
	[ -n "$$targets" ] || { echo "no fuzz targets found"; exit 1; }; \
	echo "$$targets" | while read -r pkg name; do \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

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
.PHONY: build-EventsFunction
.PHONY: build-TemplatesFunction build-QuotaFunction
.PHONY: build-BroadcastFunction build-BroadcastWorkerFunction build-SweepFunction build-TallyFunction build-RemindersFunction
.PHONY: build-JssdkFunction

build-SessionFunction:       ; $(call lambda-build,login,$(call artifacts,login))
build-SubscriptionsFunction: ; $(call lambda-build,subscriptions,$(call artifacts,subscriptions))
build-SendFunction:          ; $(call lambda-build,messages,$(call artifacts,messages))
build-EventsFunction:        ; $(call lambda-build,pushevents,$(call artifacts,pushevents))
build-RefreshTokenFunction:  ; $(call lambda-build,refresher,$(call artifacts,refresher))
build-TemplatesFunction:     ; $(call lambda-build,templates,$(call artifacts,templates))
build-QuotaFunction:         ; $(call lambda-build,quota,$(call artifacts,quota))
build-BroadcastFunction:     ; $(call lambda-build,broadcasts,$(call artifacts,broadcasts))
build-BroadcastWorkerFunction: ; $(call lambda-build,broadcasts-worker,$(call artifacts,broadcasts-worker))
build-SweepFunction:          ; $(call lambda-build,sweep,$(call artifacts,sweep))
build-TallyFunction:          ; $(call lambda-build,tally,$(call artifacts,tally))
build-RemindersFunction:      ; $(call lambda-build,reminders,$(call artifacts,reminders))
build-JssdkFunction:          ; $(call lambda-build,jssdk,$(call artifacts,jssdk))

build: $(FUNCTIONS:%=bin/%/bootstrap)

bin/%/bootstrap: FORCE
	$(call lambda-build,$*,$(@D))

FORCE:
