
Podv1–
bench-pod-00000000default*$6f1c2a44-0d5e-4c1b-9a7e-000000000012BÄÚ÷ Z

appwebZ
pod-template-hash
5d8f7b9c6dZ
tierfrontendb9
!kubectl.kubernetes.io/restartedAt2026-01-01T00:00:00Zb
prometheus.io/port9090b
prometheus.io/scrapetruejO

ReplicaSetweb-5d8f7b9c6d"$0b7e0c3e-5a0f-4f1e-8f51-2f6c1d3b9a10*apps/v108"Ü

config¢

web-config¡
web$registry.example.com/team/web:1.27.3"--listen=:8080"--log-level=info2
httpê?"TCP:
POD_NAMEfrom-downward-api:

GOMAXPROCS2:#
CONFIG_PATH/etc/app/config.yamlB5

memory
256Mi
cpu
100m
memory
128MiJ
config/etc/appZ 
0b
/healthzê?j/dev/termination-logrIfNotPresent¢File“
metrics-sidecar)registry.example.com/infra/exporter:0.9.1"--listen=:9090"--log-level=info2
httpÇG"TCP:
POD_NAMEfrom-downward-api:

GOMAXPROCS2:#
CONFIG_PATH/etc/app/config.yamlB5

memory
256Mi
cpu
100m
memory
128MiJ
config/etc/appZ 
0b
/healthzÇGj/dev/termination-logrIfNotPresent¢FileAlways 2ClusterFirst:
kubernetes.io/oslinuxBwebRnode-1ödefault-scheduler*ß
Running
InitializedTrue"ÅÚ÷ 
ReadyTrue"ÖÚ÷ 
ContainersReadyTrue"ÖÚ÷ 
PodScheduledTrue"ÄÚ÷ *	10.0.0.11210.244.1.23:ÄÚ÷ J	Burstable