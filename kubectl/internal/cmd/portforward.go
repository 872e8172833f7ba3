package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/streaming/pkg/httpstream"
)

type portForwardFlags struct {
	addresses  []string
	podTimeout time.Duration
}

// NewCmdPortForward is `kubectl port-forward TYPE/NAME [LOCAL:]REMOTE ...`: local
// listeners whose connections become stream pairs of one SPDY session with pods/portforward
// (tunneled in a websocket when the server takes it, as kubectl ≥ 1.31 offers).
func NewCmdPortForward(f *Factory, streams Streams) *cobra.Command {
	o := &portForwardFlags{}
	c := &cobra.Command{
		Use:                   "port-forward TYPE/NAME [options] [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]",
		DisableFlagsInUseLine: true,
		Short:                 "Forward one or more local ports to a pod",
		Long: `Forward one or more local ports to a pod.

 Use resource type/name such as deployment/mydeployment to select a pod. Resource type defaults to 'pod' if omitted.

 If there are multiple pods matching the criteria, a pod will be selected automatically. The forwarding session ends when the selected pod terminates, and a rerun of the command is needed to resume forwarding.`,
		Example: `  # Listen on ports 5000 and 6000 locally, forwarding data to/from ports 5000 and 6000 in the pod
  kubectl port-forward pod/mypod 5000 6000

  # Listen on ports 5000 and 6000 locally, forwarding data to/from ports 5000 and 6000 in a pod selected by the deployment
  kubectl port-forward deployment/mydeployment 5000 6000

  # Listen on port 8888 locally, forwarding to 5000 in the pod
  kubectl port-forward pod/mypod 8888:5000

  # Listen on port 8888 on all addresses, forwarding to 5000 in the pod
  kubectl port-forward --address 0.0.0.0 pod/mypod 8888:5000

  # Listen on a random port locally, forwarding to 5000 in the pod
  kubectl port-forward pod/mypod :5000`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError("kubectl port-forward", "TYPE/NAME and list of ports are required for port-forward")
			}
			if o.podTimeout <= 0 {
				return usageError("kubectl port-forward", "--pod-running-timeout must be higher than zero")
			}
			return o.run(c.Context(), f, streams, args[0], args[1:])
		},
	}
	c.Flags().StringSliceVar(&o.addresses, "address", []string{"localhost"}, "Addresses to listen on (comma separated). Only accepts IP addresses or localhost as a value. When localhost is supplied, kubectl will try to bind on both 127.0.0.1 and ::1 and will fail if neither of these addresses are available to bind.")
	c.Flags().DurationVar(&o.podTimeout, "pod-running-timeout", time.Minute, "The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one pod is running")
	return c
}

func (o *portForwardFlags) run(ctx context.Context, f *Factory, streams Streams, arg string, specs []string) error {
	target, obj, err := attachablePod(ctx, f, arg, o.podTimeout)
	if err != nil {
		return err
	}
	if nestedString(obj, "kind") == "Service" {
		specs, err = servicePortsToTarget(obj, target.pod, specs)
	} else {
		specs, err = podPortsToNumbers(target.pod, specs)
	}
	if err != nil {
		return err
	}
	ports, err := parseForwardPorts(specs)
	if err != nil {
		return err
	}
	addrs, err := parseListenAddresses(o.addresses)
	if err != nil {
		return err
	}
	// Upstream reads the pod again right before forwarding.
	name := nestedString(target.pod, "metadata", "name")
	pod, err := target.client.GetObject(ctx, target.pods.Path(target.ns, name), nil)
	if err != nil {
		return err
	}
	if phase := nestedString(pod, "status", "phase"); phase != "Running" {
		return fmt.Errorf("unable to forward port because pod is not running. Current status=%v", phase)
	}
	conn, err := target.client.dialPortForward(ctx, target.pods.Path(target.ns, name, "portforward"))
	if err != nil {
		return fmt.Errorf("error upgrading connection: %v", err)
	}
	defer conn.Close()
	fw := &forwarder{conn: conn, out: streams.Out, errOut: streams.ErrOut}
	return fw.run(ctx, addrs, ports)
}

// splitPort splits [LOCAL:]REMOTE as upstream does; without a local part both are REMOTE.
func splitPort(spec string) (local, remote string) {
	parts := strings.Split(spec, ":")
	if len(parts) == 2 {
		return parts[0], parts[1]
	}
	return parts[0], parts[0]
}

// podPortsToNumbers resolves named remote ports to the pod's container port numbers, as
// upstream's convertPodNamedPortToNumber (REMOTE alone keeps the resolved number for the
// local port too). A port the pod declares for UDP only is refused: port-forward is TCP.
func podPortsToNumbers(pod Object, specs []string) ([]string, error) {
	udpOnly := udpOnlyPorts(nestedSlice(pod, "spec", "containers"), "containerPort", "ports")
	var out []string
	for _, spec := range specs {
		local, remote := splitPort(spec)
		if remote == "" {
			return nil, errors.New("remote port cannot be empty")
		}
		number := remote
		if _, err := strconv.Atoi(remote); err != nil {
			n, err := containerPortByName(pod, remote)
			if err != nil {
				return nil, err
			}
			number = strconv.Itoa(int(n))
		}
		if n, _ := strconv.Atoi(number); udpOnly[n] {
			return nil, fmt.Errorf("UDP protocol is not supported for %s", remote)
		}
		if local != remote {
			out = append(out, local+":"+number)
		} else {
			out = append(out, number)
		}
	}
	return out, nil
}

// servicePortsToTarget maps a Service's ports (numbers or names) to the target ports of
// pod that the Service sends them to, as upstream's translateServicePortToTargetPort.
func servicePortsToTarget(svc, pod Object, specs []string) ([]string, error) {
	svcName := nestedString(svc, "metadata", "name")
	svcPorts := nestedSlice(svc, "spec", "ports")
	udpOnly := udpOnlyPorts([]any{svc}, "port", "spec", "ports")
	var out []string
	for _, spec := range specs {
		local, remote := splitPort(spec)
		port, err := strconv.Atoi(remote)
		if err != nil {
			found := false
			for _, sp := range svcPorts {
				if nestedString(sp, "name") == remote {
					n, _ := nestedInt(sp, "port")
					port, found = int(n), true
				}
			}
			if !found {
				return nil, fmt.Errorf("Service '%s' does not have a named port '%s'", svcName, remote)
			}
			if local == remote {
				local = strconv.Itoa(port)
			}
		}
		if udpOnly[port] {
			return nil, fmt.Errorf("UDP protocol is not supported for %s", remote)
		}
		target, err := serviceTargetPort(svc, pod, port)
		if err != nil {
			return nil, err
		}
		remote = strconv.Itoa(int(target))
		if local != remote {
			out = append(out, local+":"+remote)
		} else {
			out = append(out, remote)
		}
	}
	return out, nil
}

// serviceTargetPort is the container port of pod that the Service's port sends to.
func serviceTargetPort(svc, pod Object, port int) (int32, error) {
	for _, sp := range nestedSlice(svc, "spec", "ports") {
		if n, _ := nestedInt(sp, "port"); int(n) != port {
			continue
		}
		switch tp := nested(sp, "targetPort").(type) {
		case string:
			return containerPortByName(pod, tp)
		case nil:
			return int32(port), nil
		default:
			if n, _ := nestedInt(sp, "targetPort"); n != 0 {
				return int32(n), nil
			}
			return int32(port), nil
		}
	}
	return 0, fmt.Errorf("Service %s does not have a service port %d", nestedString(svc, "metadata", "name"), port)
}

// containerPortByName is the number of the pod's container port called name.
func containerPortByName(pod Object, name string) (int32, error) {
	for _, c := range nestedSlice(pod, "spec", "containers") {
		for _, p := range nestedSlice(c, "ports") {
			if nestedString(p, "name") == name {
				n, _ := nestedInt(p, "containerPort")
				return int32(n), nil
			}
		}
	}
	return 0, fmt.Errorf("Pod '%s' does not have a named port '%s'", nestedString(pod, "metadata", "name"), name)
}

// udpOnlyPorts are the port numbers (field numberField of the port lists at path in each
// of owners) declared for UDP and not for TCP.
func udpOnlyPorts(owners []any, numberField string, path ...string) map[int]bool {
	udp, tcp := map[int]bool{}, map[int]bool{}
	for _, o := range owners {
		for _, p := range nestedSlice(o, path...) {
			n, _ := nestedInt(p, numberField)
			switch nestedString(p, "protocol") {
			case "UDP":
				udp[int(n)] = true
			case "TCP", "":
				tcp[int(n)] = true
			}
		}
	}
	for n := range tcp {
		delete(udp, n)
	}
	return udp
}

// forwardedPort is one LOCAL:REMOTE pair; local 0 picks a free port.
type forwardedPort struct{ local, remote uint16 }

// fmtPorts writes ports as upstream's messages do (Go's %v of its ForwardedPort slice).
func fmtPorts(ports []forwardedPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("{%d %d}", p.local, p.remote)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// parseForwardPorts reads [LOCAL:]REMOTE specs as client-go's port-forward does.
func parseForwardPorts(specs []string) ([]forwardedPort, error) {
	if len(specs) == 0 {
		return nil, errors.New("you must specify at least 1 port")
	}
	var ports []forwardedPort
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		var local, remote string
		switch len(parts) {
		case 1:
			local, remote = parts[0], parts[0]
		case 2:
			local, remote = parts[0], parts[1]
			if local == "" {
				local = "0"
			}
		default:
			return nil, fmt.Errorf("invalid port format '%s'", spec)
		}
		l, err := strconv.ParseUint(local, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("error parsing local port '%s': %s", local, err)
		}
		r, err := strconv.ParseUint(remote, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("error parsing remote port '%s': %s", remote, err)
		}
		if r == 0 {
			return nil, errors.New("remote port must be > 0")
		}
		ports = append(ports, forwardedPort{uint16(l), uint16(r)})
	}
	return ports, nil
}

// listenAddress is where to listen: localhost is 127.0.0.1 and ::1, of which one
// suffices ("all" must fail for the port to fail); any other address must work ("any").
type listenAddress struct {
	address, network string
	mustWork         bool
}

// parseListenAddresses reads --address as client-go does: IPs or localhost, sorted.
func parseListenAddresses(values []string) ([]listenAddress, error) {
	seen := map[string]listenAddress{}
	for _, v := range values {
		if v == "localhost" {
			for _, a := range []listenAddress{{"127.0.0.1", "tcp4", false}, {"::1", "tcp6", false}} {
				if _, ok := seen[a.address]; !ok {
					seen[a.address] = a
				}
			}
			continue
		}
		ip := net.ParseIP(v)
		switch {
		case ip == nil:
			return nil, fmt.Errorf("%s is not a valid IP", v)
		case ip.To4() != nil:
			seen[v] = listenAddress{v, "tcp4", true}
		default:
			seen[v] = listenAddress{v, "tcp6", true}
		}
	}
	addrs := make([]listenAddress, 0, len(seen))
	for _, a := range seen {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].address < addrs[j].address })
	return addrs, nil
}

// forwarder serves the local end of a port-forward session, as client-go's PortForwarder,
// with its messages: each accepted connection becomes an error stream and a data stream
// for the remote port, told apart from other connections by a request ID.
type forwarder struct {
	conn        httpstream.Connection
	out, errOut io.Writer

	mu     sync.Mutex
	nextID int
}

// errLostConnection is what kubectl exits with when the session ends under it (the pod
// went away, a forward failed).
var errLostConnection = errors.New("lost connection to pod")

// run listens on every port and address and forwards until ctx ends (nil) or the session
// does (errLostConnection).
func (fw *forwarder) run(ctx context.Context, addrs []listenAddress, ports []forwardedPort) error {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	listening := false
	for i := range ports {
		ls, err := fw.listen(addrs, &ports[i])
		listeners = append(listeners, ls...)
		if err != nil {
			fmt.Fprintf(fw.errOut, "Unable to listen on port %d: %v\n", ports[i].local, err)
			continue
		}
		listening = true
	}
	if !listening {
		return fmt.Errorf("unable to listen on any of the requested ports: %s", fmtPorts(ports))
	}
	select {
	case <-ctx.Done():
		return nil
	case <-fw.conn.CloseChan():
		return errLostConnection
	}
}

// listen opens p's listeners on addrs; a local port of 0 becomes the first one's free port.
func (fw *forwarder) listen(addrs []listenAddress, p *forwardedPort) ([]net.Listener, error) {
	var ls []net.Listener
	var errs []string
	optionalOK, optionalFailed, requiredFailed := 0, 0, 0
	for _, a := range addrs {
		l, err := net.Listen(a.network, net.JoinHostPort(a.address, strconv.Itoa(int(p.local))))
		if err != nil {
			errs = append(errs, "unable to create listener: Error "+err.Error())
			if a.mustWork {
				requiredFailed++
			} else {
				optionalFailed++
			}
			continue
		}
		if !a.mustWork {
			optionalOK++
		}
		p.local = uint16(l.Addr().(*net.TCPAddr).Port)
		fmt.Fprintf(fw.out, "Forwarding from %s -> %d\n", net.JoinHostPort(a.address, strconv.Itoa(int(p.local))), p.remote)
		ls = append(ls, l)
		go fw.accept(l, *p)
	}
	if (optionalOK == 0 && optionalFailed > 0) || requiredFailed > 0 {
		return ls, fmt.Errorf("Listeners failed to create with the following errors: [%s]", strings.Join(errs, " "))
	}
	return ls, nil
}

func (fw *forwarder) accept(l net.Listener, p forwardedPort) {
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(fw.errOut, "Error accepting connection on port %d: %v\n", p.local, err)
			}
			return
		}
		go fw.handle(c, p)
	}
}

// handle forwards one local connection. The remote side's end (or a local failure) ends
// it; a message on the error stream is printed and, as upstream since 1.31, ends the whole
// session, so that kubectl exits rather than forwarding to a port that is gone.
func (fw *forwarder) handle(c net.Conn, p forwardedPort) {
	defer c.Close()
	fmt.Fprintf(fw.out, "Handling connection for %d\n", p.local)
	fw.mu.Lock()
	id := fw.nextID
	fw.nextID++
	fw.mu.Unlock()

	h := http.Header{}
	h.Set("streamType", "error")
	h.Set("port", strconv.Itoa(int(p.remote)))
	h.Set("requestID", strconv.Itoa(id))
	errStream, err := fw.conn.CreateStream(h)
	if err != nil {
		fmt.Fprintf(fw.errOut, "error creating error stream for port %d -> %d: %v\n", p.local, p.remote, err)
		return
	}
	errStream.Close() // nothing is written to it
	defer fw.conn.RemoveStreams(errStream)
	remoteErr := make(chan []byte, 1)
	go func() {
		msg, _ := io.ReadAll(errStream)
		remoteErr <- msg
	}()

	h.Set("streamType", "data")
	data, err := fw.conn.CreateStream(h)
	if err != nil {
		fmt.Fprintf(fw.errOut, "error creating forwarding stream for port %d -> %d: %v\n", p.local, p.remote, err)
		return
	}
	defer fw.conn.RemoveStreams(data)
	remoteDone, localFailed := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = io.Copy(c, data)
		close(remoteDone)
	}()
	go func() {
		defer data.Close() // tells the remote side this connection sends no more
		if _, err := io.Copy(data, c); err != nil && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintf(fw.errOut, "error copying from local connection to remote stream: %v\n", err)
			close(localFailed)
		}
	}()
	select {
	case <-remoteDone:
	case <-localFailed:
	}
	// Unsent data is dropped, so that the error stream's answer is not stuck behind it.
	_ = data.Reset()
	if msg := <-remoteErr; len(msg) > 0 {
		fmt.Fprintf(fw.errOut, "an error occurred forwarding %d -> %d: %s\n", p.local, p.remote, msg)
		fw.conn.Close()
	}
}
