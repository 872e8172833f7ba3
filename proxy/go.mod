module kubelab.io/proxy

go 1.26.8

require (
	github.com/prometheus/client_golang v1.23.2
	google.golang.org/protobuf v1.36.12
	k8s.io/utils v0.0.0-20260108192941-914a6e750570
)
