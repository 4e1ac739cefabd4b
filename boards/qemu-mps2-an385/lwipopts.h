/*
 * lwIP options for the QEMU MPS2 AN385 board: NO_SYS (one loop, no
 * threads), raw API only, IPv4 + ARP + ICMP + TCP (UDP only for DHCP),
 * every buffer in lwIP's own static pools and heap array.
 *
 * The sizes follow the board's work: at most LWM_MAX_SESSIONS IMAP
 * connections plus a listener, and a NIC whose receive FIFO holds about
 * 10 KB (QEMU's LAN9118 model drops what does not fit), so the receive
 * window is kept to 4 segments per connection.
 */
#ifndef LWIPOPTS_H
#define LWIPOPTS_H

#include "lwm_config.h"

/* ---- system */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0      /* nothing runs in interrupts */
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_TIMERS 1
#define LWIP_SINGLE_NETIF 1

/* ---- memory: never libc's malloc; pools and the heap are arrays */
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 4
/* lwIP's heap: PBUF_RAM (tcp_write copies, ARP queue) and receive queues
 * compacted out of PBUF_POOL (ports/lwip). 8 KiB holds one connection's
 * full send buffer (TCP_SND_BUF) plus ACKs; sessions sending at once
 * share it, and tcp_write's ERR_MEM only defers their output. */
#ifndef MEM_SIZE
#define MEM_SIZE (8 * 1024)
#endif
#define MEMP_NUM_PBUF 16
#define MEMP_NUM_TCP_PCB (LWM_MAX_SESSIONS + 4)
#define MEMP_NUM_TCP_PCB_LISTEN 2
#define MEMP_NUM_TCP_SEG 32
#define MEMP_NUM_ARP_QUEUE 4
#define PBUF_POOL_SIZE 16

/* ---- protocols */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#ifndef LWM_BOARD_DHCP
#define LWM_BOARD_DHCP 0
#endif
#define LWIP_DHCP LWM_BOARD_DHCP
#define LWIP_UDP LWM_BOARD_DHCP
#define LWIP_TCP 1
#define LWIP_ALTCP 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define ARP_TABLE_SIZE 4
/* Keep every packet waiting for an ARP reply, not only the last: clients
 * that connect right after boot would otherwise lose all but one SYN-ACK
 * to the gateway's unknown MAC (slirp retries a SYN after 3 s) */
#define ARP_QUEUEING 1
#define ETH_PAD_SIZE 2              /* IP header on a word boundary */

/* ---- TCP */
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF) / TCP_MSS)
#define TCP_QUEUE_OOSEQ 0           /* out-of-order segments: dropped */
#define LWIP_TCP_KEEPALIVE 1
#define TCP_LISTEN_BACKLOG 0

/* ---- checksums: QEMU's LAN9118 does no offload */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1

/* ---- callbacks and extras not used */
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0

/* ---- random numbers (ISS, ports): the board's source */
#include <stdint.h>
uint32_t board_rand32(void);
#define LWIP_RAND() board_rand32()

#endif /* LWIPOPTS_H */
