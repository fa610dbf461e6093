// kms-openbao is the Kubernetes KMS v2 plugin of the platform: it serves the API server on a
// unix socket and wraps the API server's data encryption keys with a key of OpenBao's transit
// engine, whose own root of trust is the customer's KMS.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/kms/pkg/service"
)

func main() {
	socket := flag.String("listen", "/var/run/kmsplugin/socket.sock", "unix socket the API server connects to")
	address := flag.String("openbao-address", "", "OpenBao address, https://host:port")
	mount := flag.String("transit-mount", "transit", "mount path of the transit engine")
	key := flag.String("transit-key", "kubernetes", "name of the transit key")
	tokenFile := flag.String("token-file", "", "file holding the OpenBao token (read on every call)")
	caFile := flag.String("ca-file", "", "CA certificate that OpenBao's server certificate must chain to")
	timeout := flag.Duration("timeout", 3*time.Second, "timeout of one call to OpenBao")
	flag.Parse()
	if *address == "" || *tokenFile == "" {
		fmt.Fprintln(os.Stderr, "kms-openbao: -openbao-address and -token-file are required")
		os.Exit(2)
	}
	t, err := newTransit(*address, *mount, *key, *tokenFile, *caFile, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kms-openbao:", err)
		os.Exit(2)
	}
	// A socket left by a previous run would make the listen fail.
	if err := os.Remove(*socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatalf("kms-openbao: removing the old socket: %v", err)
	}
	grpc := service.NewGRPCService(*socket, *timeout, &plugin{transit: t})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		grpc.Shutdown()
	}()
	log.Printf("kms-openbao: serving %s for %s/%s at %s", *socket, *mount, *key, *address)
	if err := grpc.ListenAndServe(); err != nil {
		log.Fatalf("kms-openbao: %v", err)
	}
}
