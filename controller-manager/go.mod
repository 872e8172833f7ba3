module kubelab.io/controller-manager

go 1.26.8

require (
	github.com/prometheus/client_golang v1.23.2
	google.golang.org/protobuf v1.36.12
)
