# bluegreen.core: everything a contributor (and CI, through .ci/run) runs.
# `make` or `make help` lists the targets. Every target works on a fresh
# Debian 12 machine: the ones that need tools depend on `bootstrap`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV := $(CURDIR)/.venv
COLLECTION_VERSION := $(shell sed -n 's/^version:[[:space:]]*//p' galaxy.yml | tr -d "'\"")
DIST_TARBALL := dist/bluegreen-core-$(COLLECTION_VERSION).tar.gz
INSTALL_CHECK_DIR := $(CURDIR)/build/install-check
# Python code that ruff checks (folders that do not exist yet are left out).
PY_DIRS := $(wildcard plugins tests examples benchmarks scripts)
# Stages of `make test`, in order. The last is the scenarios alone: `make molecule` would build and install again.
TEST_STAGES := bootstrap lab-image unit checks build install-check ee molecule-scenarios
# The stages of `make checks`: each keeps to one core at most (or waits on a local server), so they run side by side.
CHECKS := aws lint docs sanity

# Environment of every target. The collections path holds a symlink to this
# working tree (made by bootstrap), so `bluegreen.core.*` resolves to it; the
# collections bundled in the `ansible` package in .venv are found as well.
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_NOCOWS := 1
export ANSIBLE_RETRY_FILES_ENABLED := 0
export ANSIBLE_GALAXY_DISPLAY_PROGRESS := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The demo's router: make demo ROUTER=nginx.
ROUTER ?= haproxy
# Colour when a person watches, plain text in CI logs.
COLOR ?= $(if $(CI),0,$(shell [ -t 2 ] && echo 1 || echo 0))
export ANSIBLE_FORCE_COLOR := $(COLOR)
export PY_COLORS := $(COLOR)
export ANSIBLE_TEST_COLOR := $(if $(filter 1,$(COLOR)),yes,no)

.PHONY: help bootstrap lab-image unit aws lint sanity checks build install-check ee molecule molecule-scenarios demo demo-down bench bench-scale \
	docs test requirements-lock clean distclean

help: ## List the targets
	@printf 'bluegreen.core (collection %s). Targets:\n\n' '$(COLLECTION_VERSION)'
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  make %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@printf '\nEnvironment: BLUEGREEN_LAB_IMAGE (lab image name), COLOR=0|1, PYTHON (for bootstrap).\n'

bootstrap: ## Install Debian packages, .venv (requirements.txt) and the collections path; a no-op when done
	@scripts/bootstrap.sh

lab-image: bootstrap ## Build the lab's systemd image (localhost/bluegreen-lab:bookworm) unless present
	@scripts/lab-image.sh

unit: bootstrap ## Unit tests (pytest tests/unit, on every core); finding no test is an error
	@rc=0; pytest tests/unit -q -n auto || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then \
		echo "ERROR: pytest collected no tests under tests/unit (exit 5): that is a failure, not a pass." >&2; exit 1; \
	fi; exit "$$rc"

aws: bootstrap ## AWS modules against a local moto server on 127.0.0.1 (pytest tests/aws)
	@rc=0; pytest tests/aws -q -n auto || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then echo "ERROR: pytest collected no tests under tests/aws (exit 5)" >&2; exit 1; fi; exit "$$rc"

lint: bootstrap ## ruff (Python), yamllint, ansible-lint --profile production, antsibull-docs' docs lint; reports all four
	@failed=(); \
	echo "== ruff check $(PY_DIRS)"; ruff check $(PY_DIRS) || failed+=(ruff); \
	echo "== yamllint"; yamllint --strict . || failed+=(yamllint); \
	echo "== ansible-lint --profile production"; ansible-lint --profile production || failed+=(ansible-lint); \
	echo "== antsibull-docs lint-collection-docs --plugin-docs (modules, plugins, roles)"; \
	antsibull-docs lint-collection-docs --plugin-docs . || failed+=(antsibull-docs); \
	if [ "$${#failed[@]}" -gt 0 ]; then echo "lint FAILED: $${failed[*]}" >&2; exit 1; fi; \
	echo "lint passed"

sanity: bootstrap ## ansible-test sanity (Python 3.11, locally, no ignore entries)
	@scripts/sanity.sh

checks: bootstrap ## aws, lint, docs and sanity side by side, each log printed whole when all have ended
	@scripts/side-by-side.sh build/checks $(foreach t,$(CHECKS),$(t) '$(MAKE) --no-print-directory $(t)')

build: bootstrap ## Build the collection tarball into dist/
	@rm -f dist/bluegreen-core-*.tar.gz
	ansible-galaxy collection build --force --output-path dist/
	@test -f $(DIST_TARBALL) || { echo "ERROR: $(DIST_TARBALL) was not built" >&2; exit 1; }

install-check: build ## Install the built tarball into build/install-check and check what it holds
	@rm -rf $(INSTALL_CHECK_DIR); mkdir -p $(INSTALL_CHECK_DIR)
	@# Only the installed copy may be found here, not the working tree. The dependencies in galaxy.yml
	@# resolve --offline to the copies in the ansible package (.venv), which ansible-galaxy counts as
	@# installed: a version range they do not meet fails the install.
	@export ANSIBLE_COLLECTIONS_PATH=$(INSTALL_CHECK_DIR); \
	ansible-galaxy collection install --offline $(DIST_TARBALL) -p $(INSTALL_CHECK_DIR); \
	installed=$(INSTALL_CHECK_DIR)/ansible_collections/bluegreen/core; \
	test -f "$$installed/MANIFEST.json" || { echo "ERROR: nothing installed at $$installed" >&2; exit 1; }; \
	shipped=$$(tar -tzf $(DIST_TARBALL) | grep -E '^benchmarks/|\.png$$' || true); \
	[ -z "$$shipped" ] || { echo "ERROR: $(DIST_TARBALL) ships benchmark files: $$shipped" >&2; exit 1; }; \
	ansible-galaxy collection list bluegreen.core -p $(INSTALL_CHECK_DIR) | grep -q '$(COLLECTION_VERSION)'; \
	echo "== modules in the installed collection"; \
	modules=$$(ansible-doc -t module -l bluegreen.core -j | python3 -c 'import json, sys; print(*sorted(json.load(sys.stdin)))'); \
	echo "$${modules:-none}"; \
	for m in $$modules; do ansible-doc -t module "$$m" >/dev/null || { echo "ERROR: ansible-doc $$m failed" >&2; exit 1; }; done; \
	echo "== playbooks of the installed collection (syntax check)"; \
	for p in "$$installed"/playbooks/*.yml; do \
		[ -e "$$p" ] || continue; name=bluegreen.core.$$(basename "$$p" .yml); \
		ansible-playbook --syntax-check -i localhost, "$$name" >/dev/null || { echo "ERROR: $$name fails its syntax check" >&2; exit 1; }; \
		echo "$$name ok"; \
	done; \
	echo "install-check passed: $(DIST_TARBALL) installs and resolves from $(INSTALL_CHECK_DIR)"

ee: bootstrap build ## Build and check the execution environment image localhost/bluegreen-ee (scripts/ee.sh); skipped when up to date
	@scripts/ee.sh

molecule: install-check lab-image ee ## Molecule scenarios on lab containers, run with the built and installed tarball (and, for the runner test, the execution environment)
	@$(MAKE) --no-print-directory molecule-scenarios

molecule-scenarios: ## The scenarios alone, once install-check, lab-image and ee are done (make test's last stage: they are its stages before)
	@test -f $(INSTALL_CHECK_DIR)/ansible_collections/bluegreen/core/MANIFEST.json || { echo "ERROR: run 'make install-check' first" >&2; exit 1; }
	ANSIBLE_COLLECTIONS_PATH=$(INSTALL_CHECK_DIR) scripts/molecule.sh

demo: bootstrap lab-image ## A full release on a local lab (scripts/demo.sh); ROUTER=nginx for Nginx
	ROUTER=$(ROUTER) scripts/demo.sh

demo-down: ## Stop the demo and remove its containers
	scripts/demo.sh down

bench: bootstrap lab-image ## Benchmarks (scripts/bench.sh)
	@test -x scripts/bench.sh || { echo "ERROR: scripts/bench.sh does not exist yet" >&2; exit 1; }
	scripts/bench.sh

bench-scale: bootstrap lab-image ## Switch/rollback wall time from 1 to 5 routers, 2 to 5 app hosts, commit spread (scripts/bench.sh scale)
	scripts/bench.sh scale

docs: bootstrap ## The docs site (guides in docs/, modules, plugins, roles) into build/docs/html, offline (scripts/docs.sh)
	@scripts/docs.sh

test: ## Everything CI runs, in order, failing fast; prints each stage's wall time
	@summary=(); rc=0; t0=$$(date +%s); \
	for stage in $(TEST_STAGES); do \
		printf '\n======== make %s\n' "$$stage"; start=$$(date +%s); \
		if $(MAKE) --no-print-directory "$$stage"; then status=ok; else status=FAILED; rc=1; fi; \
		summary+=("$$(printf '%-14s %5ss  %s' "$$stage" "$$(( $$(date +%s) - start ))" "$$status")"); \
		[ "$$rc" -eq 0 ] || break; \
	done; \
	printf '\n======== wall time per stage\n'; printf '  %s\n' "$${summary[@]}"; \
	printf '  %-14s %5ss  %s\n' total "$$(( $$(date +%s) - t0 ))" "$$([ "$$rc" -eq 0 ] && echo ok || echo FAILED)"; \
	exit "$$rc"

requirements-lock: bootstrap ## Re-resolve requirements.txt and rewrite requirements-constraints.txt
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	grep -v '^-c ' requirements.txt >"$$tmp/req.txt"; \
	python3 -m pip install --dry-run --ignore-installed --quiet --report "$$tmp/report.json" -r "$$tmp/req.txt"; \
	{ sed -n '/^#/p' requirements-constraints.txt; \
	  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); \
	  ms = sorted((i["metadata"] for i in r["install"]), key=lambda m: m["name"].lower()); \
	  print("\n".join(m["name"] + "==" + m["version"] for m in ms))' "$$tmp/report.json"; \
	} >"$$tmp/constraints.txt"; \
	mv "$$tmp/constraints.txt" requirements-constraints.txt; \
	echo "requirements-constraints.txt rewritten: review 'git diff requirements-constraints.txt', then 'make bootstrap'"

clean: ## Remove build outputs and caches (keeps .venv, the collections link and the lab image)
	rm -rf build dist tests/output .cache/pytest .cache/ruff .pytest_cache .ruff_cache
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## Also remove .venv and .cache (the lab image stays: podman rmi to drop it)
	rm -rf .venv .cache
