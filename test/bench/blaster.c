// Load generator and sink for the capacity benchmark (test/bench/capacity.ts), in C so it costs
// far less per packet than the relay it measures: sendmmsg/recvmmsg in batches of 64.
//
//   blaster send DST_IP DST_PORT PACKETS_FILE CLIENTS RATE_PPS SECONDS
//     PACKETS_FILE: records of [u16 big-endian length][bytes], pre-sealed SATP datagrams. Record
//     i is sent from client socket (i mod CLIENTS), each socket bound to its own source port, so
//     a ring of records from many "clients" is resent at RATE_PPS for SECONDS (0 = flat out).
//     Prints "sent N" at the end.
//   blaster sink BIND_IP BIND_PORT SECONDS [DST_IP DST_PORT HELLO_FILE]
//     Counts datagrams (and bytes) received for SECONDS after the first one; prints
//     "received N bytes B" at the end. SO_RCVBUF is raised to 32 MiB. With HELLO_FILE (one raw
//     datagram) it first sends that from its socket to DST, so a relay learns where the sink is.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int sendmode(int argc, char **argv) {
  if (argc < 8) return 2;
  const char *ip = argv[2];
  int port = atoi(argv[3]);
  int clients = atoi(argv[5]);
  double rate = atof(argv[6]);
  double secs = atof(argv[7]);
  FILE *f = fopen(argv[4], "rb");
  if (!f) { perror("packets"); return 1; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(size);
  if (fread(buf, 1, size, f) != (size_t)size) { perror("read"); return 1; }
  fclose(f);
  int n = 0;
  for (long o = 0; o + 2 <= size; n++) o += 2 + ((buf[o] << 8) | buf[o + 1]);
  struct iovec *iov = calloc(n, sizeof *iov);
  long o = 0;
  for (int i = 0; i < n; i++) {
    int len = (buf[o] << 8) | buf[o + 1];
    iov[i].iov_base = buf + o + 2;
    iov[i].iov_len = len;
    o += 2 + len;
  }
  int *fds = calloc(clients, sizeof(int));
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, ip, &dst.sin_addr);
  for (int c = 0; c < clients; c++) {
    fds[c] = socket(AF_INET, SOCK_DGRAM, 0);
    int sz = 4 << 20;
    setsockopt(fds[c], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (connect(fds[c], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
  }
  // Record i belongs to client i mod CLIENTS; each client resends its own records in a ring.
  int per = n / clients;
  if (per < 1) { fprintf(stderr, "need at least one record per client\n"); return 1; }
  int *cursor = calloc(clients, sizeof(int));
  struct mmsghdr msgs[BATCH];
  long sent = 0;
  long turn = 0;
  double t0 = now();
  for (;;) {
    double t = now() - t0;
    if (t >= secs) break;
    long due = rate > 0 ? (long)(t * rate) : sent + BATCH;
    if (sent >= due) { usleep(50); continue; }
    int c = (int)(turn++ % clients);
    int k = 0;
    memset(msgs, 0, sizeof msgs);
    while (k < BATCH && sent + k < due) {
      int r = c + clients * cursor[c];
      cursor[c] = (cursor[c] + 1) % per;
      msgs[k].msg_hdr.msg_iov = &iov[r];
      msgs[k].msg_hdr.msg_iovlen = 1;
      k++;
    }
    int m = sendmmsg(fds[c], msgs, k, 0);
    if (m > 0) sent += m;
  }
  printf("sent %ld\n", sent);
  return 0;
}

static int sinkmode(int argc, char **argv) {
  if (argc < 5) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sz = 32 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &a.sin_addr);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
  double secs = atof(argv[4]);
  if (argc >= 8) {
    FILE *h = fopen(argv[7], "rb");
    if (!h) { perror("hello"); return 1; }
    unsigned char hb[2048];
    size_t hn = fread(hb, 1, sizeof hb, h);
    fclose(h);
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[6]))};
    inet_pton(AF_INET, argv[5], &d.sin_addr);
    for (int i = 0; i < 3; i++) sendto(fd, hb, hn, 0, (struct sockaddr *)&d, sizeof d);
  }
  struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static unsigned char bufs[BATCH][2048];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  long got = 0, bytes = 0;
  double t0 = 0, idle = now();
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int m = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    double t = now();
    if (m > 0) {
      if (t0 == 0) t0 = t;
      got += m;
      for (int i = 0; i < m; i++) bytes += msgs[i].msg_len;
      idle = t;
    }
    if (t0 != 0 && t - t0 >= secs) break;
    if (t0 == 0 && t - idle > secs + 30) break; // nothing ever came
  }
  printf("received %ld bytes %ld\n", got, bytes);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "send") == 0) return sendmode(argc, argv);
  if (argc > 1 && strcmp(argv[1], "sink") == 0) return sinkmode(argc, argv);
  fprintf(stderr, "usage: blaster send DST PORT FILE CLIENTS RATE SECONDS | blaster sink IP PORT SECONDS\n");
  return 2;
}
