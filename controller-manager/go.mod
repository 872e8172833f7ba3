module kubelab.io/controller-manager

go 1.26.8
