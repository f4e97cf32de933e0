# Two commands set everything up on a fresh Debian machine:
#   make demo   installs what it needs, backs up example/ with restic, shows the metrics
#   make test   installs what the tests need, then runs every test
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

# Debian packages the tests start for real (no mocks): engines, Prometheus stack, Ansible, cron.
TEST_PACKAGES := restic borgbackup zsh rclone prometheus-node-exporter prometheus prometheus-alertmanager prometheus-pushgateway \
  ansible-core ansible-lint yamllint cron python3-jinja2 python3-yaml util-linux procps \
  dpkg-dev lintian systemd man-db postgresql mariadb-server redis-server sqlite3 hyperfine time curl
DEMO_PACKAGES := restic
BENCH_PACKAGES := restic hyperfine time curl prometheus-node-exporter python3
FLEET_PACKAGES := prometheus python3-jinja2 python3-yaml

.PHONY: all deps-test deps-demo deps-bench deps-fleet build typecheck lint node18 test demo bench fleet-sim clean deb

all: build

# Installs only what is missing, so a prepared machine skips apt entirely.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done)
	if [ -n "$$missing" ]; then
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages: $$missing; run as root or: sudo apt-get install $$missing" >&2; exit 1; fi
	  echo "installing: $$missing"
	  apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null
	fi
endef

deps-test:
	$(call apt_install,$(TEST_PACKAGES))

deps-demo:
	$(call apt_install,$(DEMO_PACKAGES))

deps-bench:
	$(call apt_install,$(BENCH_PACKAGES))

deps-fleet:
	$(call apt_install,$(FLEET_PACKAGES))

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	touch node_modules

build: node_modules
	npm run build

typecheck: node_modules
	npm run typecheck

# Biome (lint and format), knip (no unused exports or files), lines of at most 120 characters.
lint: node_modules
	npm run lint

node18: deps-test
	bash scripts/fetch-node18.sh

test: deps-test build typecheck lint node18
	npm test

# cronvault_<version>_all.deb in dist/, from the bundle and deploy/debian/ (dpkg-deb only).
deb: build
	bash scripts/build-deb.sh dist

demo: deps-demo build
	bash scripts/demo.sh

# Every figure of BENCHMARKS.md, as markdown tables (under 15 minutes on 2 cores). The smoke
# version (BENCH_SMOKE=1: tiny data, one run) is part of make test: test/bench-smoke.test.ts.
bench: deps-bench build
	bash bench/all.sh

# 1,000 simulated hosts × 10 jobs scraped by one real Prometheus with the real rules: checks the
# exact alert set and prints the figures of docs/scale.md. Smaller: make fleet-sim FLEET_SIM_ARGS="--hosts 100".
FLEET_SIM_ARGS ?=
fleet-sim: deps-fleet node_modules
	node --import tsx sim/run.ts --mix stress $(FLEET_SIM_ARGS)
	node --import tsx sim/run.ts --mix realistic $(FLEET_SIM_ARGS)

clean:
	rm -rf dist .demo .cache
