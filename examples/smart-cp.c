/*
 * smart-cp: distribute files and directory trees to a multicast group,
 * encrypted, with a status for every receiver.
 *
 *   smart-cp send --group ADDR:PORT --iface ADDR [options] PATH...
 *   smart-cp recv --group ADDR:PORT --iface ADDR --dir DIR [options]
 *
 * See smart-cp(1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "cp.h"

static void usage(FILE *o) {
  fputs("usage: smart-cp send --group ADDR:PORT --iface ADDR [--expect N] [--wait SECONDS]\n"
        "                     [--rate BYTES_PER_S] [--chunk BYTES] [--passes N] [--gone SECONDS]\n"
        "                     [--key-file FILE | --identity FILE --allow FILE | --insecure]\n"
        "                     [--cipher AEAD]\n"
        "                     [--sync N] [--ttl N] [--json] [--quiet] PATH...\n"
        "       smart-cp recv --group ADDR:PORT --iface ADDR --dir DIR [--name NAME]\n"
        "                     [--timeout SECONDS] [--fsync]\n"
        "                     [--key-file FILE | --identity FILE --peer-key HEX | --insecure]\n"
        "                     [--sync N] [--ttl N] [--json] [--quiet]\n",
        o);
}

static void parse(int argc, char **argv, struct cp_opts *o, struct cli_security *sec) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'},  {"iface", required_argument, 0, 'i'},
      {"dir", required_argument, 0, 'd'},    {"name", required_argument, 0, 'n'},
      {"sync", required_argument, 0, 's'},   {"rate", required_argument, 0, 'r'},
      {"expect", required_argument, 0, 'e'}, {"wait", required_argument, 0, 'w'},
      {"chunk", required_argument, 0, 'c'},  {"passes", required_argument, 0, 'p'},
      {"timeout", required_argument, 0, 't'}, {"gone", required_argument, 0, 'G'},
      {"ttl", required_argument, 0, 'T'},    {"insecure", no_argument, 0, 'X'},
      {"json", no_argument, 0, 'j'},         {"quiet", no_argument, 0, 'q'},
      {"fsync", no_argument, 0, 'F'},
      CLI_SECURITY_OPTIONS,                  {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': o->group = optarg; break;
    case 'i': o->iface = optarg; break;
    case 'd': o->dir = optarg; break;
    case 'n': o->name = optarg; break;
    case 's': o->sync = (uint32_t)cli_number("--sync", optarg, 0, 255); break;
    case 'r': o->rate = (uint64_t)cli_number("--rate", optarg, 0, 1e12); break;
    case 'e': o->expect = (uint32_t)cli_number("--expect", optarg, 0, 1e6); break;
    case 'w': o->wait_s = cli_number("--wait", optarg, 0.1, 1e6); break;
    case 'c': o->chunk = (uint32_t)cli_number("--chunk", optarg, 4096, 64 << 20); break;
    case 'p': o->max_passes = (uint32_t)cli_number("--passes", optarg, 1, 1e6); break;
    case 't': o->timeout_s = cli_number("--timeout", optarg, 1, 1e7); break;
    case 'G': o->gone_s = cli_number("--gone", optarg, 1, 1e6); break;
    case 'T': o->ttl = (int)cli_number("--ttl", optarg, 0, 255); break;
    case 'X': o->insecure = 1; break;
    case 'j': o->json = 1; break;
    case 'q': o->quiet = 1; break;
    case 'F': o->fsync = 1; break;
    case 'h': usage(stdout); exit(0);
    default:
      if (cli_security_opt(sec, c, optarg))
        break;
      usage(stderr);
      exit(2);
    }
  }
}

static void check_security(const struct cp_opts *o, const struct cli_security *sec, int sender) {
  int keyed = sec->key_file || sec->identity_file;
  if (o->insecure && keyed)
    cli_die(2, "--insecure and a key do not go together");
  if (!o->insecure && !keyed)
    cli_die(2, "no key: give --key-file FILE (from smart-keygen --group-key) or --identity FILE, "
               "or --insecure to send in the clear");
  if (sec->identity_file && !sec->key_file && sender && !sec->allow_file)
    cli_die(2, "--identity on the sender wants --allow FILE (the receivers' public keys)");
  if (sec->identity_file && !sec->key_file && !sender && sec->npeer_keys == 0)
    cli_die(2, "--identity on a receiver wants --peer-key HEX (the sender's public key)");
  if (o->insecure)
    fprintf(stderr, "%s: WARNING: --insecure: files travel IN THE CLEAR and unauthenticated; "
                    "anyone on the network can read them or feed receivers forged data\n",
            cli_prog);
}

int main(int argc, char **argv) {
  cli_prog = "smart-cp";
  if (argc < 2 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
    int help = argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  int sender = !strcmp(argv[1], "send");
  struct cli_security sec = {0};
  char name[64];
  struct cp_opts o = {.sync = 0x53, .chunk = 256 << 10, .max_passes = 100, .timeout_s = 30,
                      .gone_s = 10, .ttl = 1, .sec = &sec};
  parse(argc - 1, argv + 1, &o, &sec);
  if (!o.group || !o.iface || (sender && optind + 1 >= argc) || (!sender && optind + 1 != argc) ||
      (!sender && !o.dir)) {
    usage(stderr);
    return 2;
  }
  if (sodium_init() < 0)
    cli_die(1, "libsodium failed to start");
  check_security(&o, &sec, sender);
  if (!o.name) {
    char host[32] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(name, sizeof(name), "%s/%s", host, o.iface);
    o.name = name;
  }
  setvbuf(stderr, NULL, _IOLBF, 0);
  return sender ? cp_send_main(&o, argv + optind + 1, argc - optind - 1) : cp_recv_main(&o);
}
