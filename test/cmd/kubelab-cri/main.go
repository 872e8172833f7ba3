// Command kubelab-cri inspects and cleans what kubelab's kubelets left in a containerd, over
// CRI (the CNI teardown of a sandbox happens only through CRI StopPodSandbox, not ctr).
//
//	kubelab-cri [-endpoint unix:///run/kubelab/containerd/containerd.sock] ls
//	    one line per sandbox and container the kubelet made:
//	    "sandbox ID UID NAMESPACE/NAME STATE" and "container ID UID NAME STATE ATTEMPT"
//	kubelab-cri [-endpoint …] [-log-root /var/log/pods] rm
//	    stop and remove every such sandbox with its containers (and their log folders)
//
// Only sandboxes and containers labelled io.kubelab.managed-by=kubelab-kubelet are touched.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	krt "kubelab.io/kubelet/runtime"
)

func main() {
	endpoint := flag.String("endpoint", krt.DefaultEndpoint, "CRI endpoint")
	logRoot := flag.String("log-root", "/var/log/pods", "root of the pods' log folders (rm removes them)")
	timeout := flag.Duration("timeout", time.Minute, "overall timeout")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: kubelab-cri [flags] ls|rm")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rt, err := krt.NewRemote(*endpoint, *timeout)
	if err != nil {
		fail(err)
	}
	defer rt.Close()
	switch flag.Arg(0) {
	case "ls":
		err = list(ctx, rt)
	case "rm":
		err = remove(ctx, rt, *logRoot)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubelab-cri:", err)
	os.Exit(1)
}

func ours(labels map[string]string) bool { return labels[krt.LabelManagedBy] == krt.ManagedByValue }

func list(ctx context.Context, rt *krt.Remote) error {
	sbs, err := rt.ListPodSandboxes(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range sbs {
		if ours(s.Labels) {
			fmt.Printf("sandbox %s %s %s/%s %s\n", s.Id, s.Metadata.GetUid(), s.Metadata.GetNamespace(), s.Metadata.GetName(), s.State)
		}
	}
	cs, err := rt.ListContainers(ctx, nil)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if ours(c.Labels) {
			fmt.Printf("container %s %s %s %s %d\n", c.Id, c.Labels[krt.LabelPodUID], c.Metadata.GetName(), c.State, c.Metadata.GetAttempt())
		}
	}
	return nil
}

func remove(ctx context.Context, rt *krt.Remote, logRoot string) error {
	sbs, err := rt.ListPodSandboxes(ctx, nil)
	if err != nil {
		return err
	}
	n := 0
	for _, s := range sbs {
		if !ours(s.Labels) {
			continue
		}
		// StopPodSandbox stops the containers and tears down the pod's network (CNI DEL);
		// RemovePodSandbox removes the containers too.
		if err := rt.StopPodSandbox(ctx, s.Id); err != nil {
			return err
		}
		if err := rt.RemovePodSandbox(ctx, s.Id); err != nil {
			return err
		}
		if m := s.Metadata; m != nil && logRoot != "" {
			os.RemoveAll(filepath.Join(logRoot, fmt.Sprintf("%s_%s_%s", m.Namespace, m.Name, m.Uid)))
		}
		n++
	}
	// Containers whose sandbox is already gone.
	cs, err := rt.ListContainers(ctx, nil)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if !ours(c.Labels) {
			continue
		}
		_ = rt.StopContainer(ctx, c.Id, 0)
		if err := rt.RemoveContainer(ctx, c.Id); err != nil {
			return err
		}
		n++
	}
	fmt.Printf("kubelab-cri: removed %d sandbox(es)/container(s)\n", n)
	return nil
}
