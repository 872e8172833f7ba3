package pipeline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// LogOptions are the parameters of pods/log, as Kubernetes' PodLogOptions.
type LogOptions struct {
	Container    string
	Follow       bool
	Previous     bool
	Timestamps   bool
	SinceSeconds *int64
	// SinceTime is an RFC 3339 time, passed to the kubelet as given (after parsing).
	SinceTime  string
	TailLines  *int64
	LimitBytes *int64
}

// Validate checks the options as Kubernetes' ValidatePodLogOptions does.
func (o LogOptions) Validate() apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, apierrors.Invalid("tailLines", *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, apierrors.Invalid("limitBytes", *o.LimitBytes, "must be greater than 0"))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != "":
		errs = append(errs, apierrors.Forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, apierrors.Invalid("sinceSeconds", *o.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// query is the kubelet's /containerLogs query for the options.
func (o LogOptions) query() url.Values {
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != "" {
		q.Set("sinceTime", o.SinceTime)
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	return q
}

// Logs serves pods/log: it finds the pod's container and node, and opens the container's
// log on the node's kubelet (GET https://<node>:<port>/containerLogs/{ns}/{pod}/{container})
// through p.Kubelet, which authenticates the apiserver and verifies the kubelet's serving
// certificate. The caller streams the returned body to the client and closes it; for a
// follow it should flush as bytes arrive.
func (c *Call) Logs(ctx context.Context, opts LogOptions) (io.ReadCloser, error) {
	info := c.info
	if info.Subresource != "log" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s/%s is not a log", info.Resource, info.Subresource))
	}
	if errs := opts.Validate(); len(errs) > 0 {
		return nil, apierrors.NewInvalid("PodLogOptions", "", info.Name, errs)
	}
	pod, container, err := c.podContainer(ctx, opts.Container)
	if err != nil {
		return nil, err
	}
	u, nodeName, err := c.kubeletURL(ctx, pod, "containerLogs", container, opts.query())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	resp, err := c.p.Kubelet.Do(req)
	if err != nil {
		return nil, KubeletError(nodeName, u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, kubeletStatus(nodeName, info.Name, resp)
	}
	body := resp.Body
	if opts.LimitBytes != nil {
		// The kubelet applies limitBytes too; this holds the answer to it whatever the
		// kubelet does.
		body = limitedReadCloser{io.LimitReader(resp.Body, *opts.LimitBytes), resp.Body}
	}
	return body, nil
}

type limitedReadCloser struct {
	io.Reader
	io.Closer
}

// podContainer reads the pod the call names and picks the container asked for (the
// pod's only one when name is empty; see logContainer).
func (c *Call) podContainer(ctx context.Context, name string) (*corev1.Pod, string, error) {
	pod, err := c.getPod(ctx)
	if err != nil {
		return nil, "", err
	}
	container, err := logContainer(pod, name)
	return pod, container, err
}

// getPod reads the pod the call names.
func (c *Call) getPod(ctx context.Context) (*corev1.Pod, error) {
	obj, err := c.store.Get(ctx, c.info.Namespace, c.info.Name)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("pods store returned a %T", obj))
	}
	return pod, nil
}

// logContainer picks the container whose log is asked for: the one named, which must be
// one of the pod's (init) containers, or else the pod's only container.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, c := range pod.GetSpec().GetInitContainers() {
		names = append(names, c.GetName())
	}
	for _, c := range pod.GetSpec().GetContainers() {
		names = append(names, c.GetName())
	}
	podName := pod.GetMetadata().GetName()
	if name != "" {
		for _, n := range names {
			if n == name {
				return name, nil
			}
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, podName))
	}
	switch containers := pod.GetSpec().GetContainers(); len(containers) {
	case 1:
		return containers[0].GetName(), nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", podName))
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", podName, names))
	}
}
