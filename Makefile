# podmig front door. `make test` is the one command that installs, builds and
# runs every test suite; `make demo` runs the main job on a local 3-node cluster.
# Everything here runs as root (Podman + CRIU checkpointing needs it).

BUILD      ?= build
BUILD_ASAN ?= build-asan
NODES      ?= 3

.PHONY: all deps build build-asan test unit integration format check-format cluster cluster-down demo bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) --werror -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

test: deps
	@scripts/run-tests

unit: build-asan
	meson test -C $(BUILD_ASAN) --suite unit --print-errorlogs

integration: build
	meson test -C $(BUILD) --suite integration --num-processes 1 --print-errorlogs

format:
	clang-format -i $$(scripts/c-sources)

check-format:
	clang-format --dry-run --Werror $$(scripts/c-sources)

cluster: build
	scripts/local-cluster up $(NODES)

demo: build
	scripts/demo

cluster-down:
	scripts/local-cluster down

bench: build
	@for b in $(BUILD)/bench/*/bench-*; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
