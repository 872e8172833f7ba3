module kubelab.io/test

go 1.26.8
