# kubelab: build, test and run a small, real Kubernetes.
#
#   make build   every binary into bin/
#   make test    every test layer this machine can run (installs what it needs first)
#   make proto   regenerate the Go code from proto/api/**/*.proto
#   make up      (root) a one-node cluster of local processes + the example Deployment; make down

SHELL := /bin/bash
GO ?= go
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

MODULES := proto client apiserver controller-manager scheduler kubelet kubectl proxy dns test
# Every command, built into bin/ by `make build`.
CMDS := ./apiserver/cmd/apiserver ./controller-manager/cmd/controller-manager ./scheduler/cmd/scheduler \
	./kubelet/cmd/kubelet ./kubectl/cmd/kubectl ./proxy/cmd/proxy ./dns/cmd/dns ./test/cmd/kubelab-cri
PKGS := $(addsuffix /...,$(addprefix ./,$(MODULES)))

# Two cores: keep parallelism modest so tests with real etcd are not starved.
TEST_FLAGS ?= -p 2 -count=1 -timeout 20m
FUZZ_TIME ?= 20s
DATA_DIR ?= $(CURDIR)/.local

.PHONY: all build test test-deps unit fuzz test-lab lint proto proto-check tools bench up down clean

all: build

tools:
	@hack/tools.sh

build:
	@mkdir -p bin
	$(GO) build -o bin/ $(CMDS)

lint:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

proto: tools
	hack/proto.sh

# proto-check regenerates into a scratch copy and fails if the committed code differs.
proto-check: tools
	@hack/proto-check.sh

# test-deps installs containerd, CNI plugins and the offline images when running as root.
test-deps:
	@hack/test-deps.sh

# unit runs every Go test: unit, integration (real etcd, real apiserver), and the e2e suites
# that drive the built binaries (test/e2e, the kubelet's on real containerd).
unit:
	KUBELAB_BIN=$(CURDIR)/bin $(GO) test $(TEST_FLAGS) $(PKGS)

# fuzz runs each request decoder's fuzzer: the JSON/YAML codec and the reader of
# Kubernetes' protobuf bodies (what the stock kubectl's typed commands send).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZ_TIME) ./proto/runtime/
	$(GO) test -run '^$$' -fuzz FuzzDirectDecodeMatchesTree -fuzztime $(FUZZ_TIME) ./proto/runtime/
	$(GO) test -run '^$$' -fuzz FuzzFastEncodeMatchesReflect -fuzztime $(FUZZ_TIME) ./proto/runtime/
	$(GO) test -run '^$$' -fuzz FuzzToJSON -fuzztime $(FUZZ_TIME) ./apiserver/internal/kubeproto/

# test-lab brings the docker-compose lab up, runs the fault drills and tears it down.
test-lab:
	@hack/lab/test.sh

test: tools lint proto-check build test-deps unit fuzz test-lab

bench:
	hack/bench.sh

# oracle-bench: upstream kube-apiserver v1.34.2 beside kubelab on Debian's etcd (hack/oracle/, not in make test).
.PHONY: oracle-bench
oracle-bench:
	hack/oracle/bench.sh

up:
	KUBELAB_DIR=$(DATA_DIR) hack/local-up.sh

down:
	KUBELAB_DIR=$(DATA_DIR) hack/local-down.sh

clean: down
	rm -rf bin .local

# ---- node: containerd, CNI, offline images, local registry (see deploy/node/README.md) ----
# node-deps   apt-install containerd, runc, CNI plugins, iptables, skopeo, docker-registry, nginx
# images      build nginx:1.14.2, pause:3.9 and kubelab/dns:1.0.0 into .local/images (cached), start the local
#             registry on 127.0.0.1:5000 and push them (skipped when unchanged)
# node-smoke  everything above + kubelab's containerd + a real CRI pod answering HTTP (root)
.PHONY: node-deps images node-smoke

node-deps:
	@hack/node/install.sh

images: node-deps
	@hack/node/build-images.sh
	@hack/node/registry.sh start
	@hack/node/registry.sh push

node-smoke:
	@hack/node/smoke.sh

# ---- lab: three-node docker-compose cluster (see deploy/lab/docker-compose.yml) ----
# lab-images  base rootfs (debootstrap, docker import, cached) + kubelab/* images; no-op when unchanged
# lab         lab-images, PKI in deploy/.lab, docker-compose up, 3 Ready nodes, seed Deployment,
#             a pod answering HTTP from another node (admin kubeconfig: deploy/.lab/admin.kubeconfig)
# lab-drills  fault drills on a running lab: node down, etcd member down, leader failover, apiserver restart
# lab-down    remove every container, network and volume of the lab (images stay; LAB_RMI=1 removes them)
.PHONY: lab lab-images lab-down lab-drills

lab-images: node-deps
	@hack/lab/images.sh

lab: node-deps
	@hack/lab/up.sh

lab-drills:
	@hack/lab/drills.sh

lab-down:
	@hack/lab/down.sh
