/*
 * lwIP options for the host test of ports/lwip (tests/lwip/test_lwip.c).
 *
 * As on a board: NO_SYS=1, raw API only, static pools and heap, no libc
 * malloc. Unlike a board: the test's clients live in the same lwIP stack
 * as the server (one pcb each side per connection), so the pools are
 * sized for both; the pbuf pool is kept small enough that many
 * connections at once run it dry; statistics are on so the test can see
 * every pool back at its starting level.
 */
#ifndef LWM_TEST_LWIPOPTS_H
#define LWM_TEST_LWIPOPTS_H

#define NO_SYS                  1
#define SYS_LIGHTWEIGHT_PROT    0
#define LWIP_TIMERS             1
#define LWIP_NETCONN            0
#define LWIP_SOCKET             0

/* memory: lwIP's own static heap and pools only */
#define MEM_LIBC_MALLOC         0
#define MEMP_MEM_MALLOC         0
#define MEM_ALIGNMENT           8
#define MEM_SIZE                (256 * 1024)
#define MEMP_NUM_PBUF           16
#define MEMP_NUM_TCP_PCB        40
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_TCP_SEG        512
/* a full segment arrives as a chain of three or four pool pbufs, so the
 * port's feeding crosses pbuf boundaries at odd offsets */
#define PBUF_POOL_SIZE          96
#define PBUF_POOL_BUFSIZE       512
#define MEMP_OVERFLOW_CHECK     1
#define MEMP_SANITY_CHECK       1

/* IPv4 and TCP over a test netif: no Ethernet, no ARP, no UDP */
#define LWIP_IPV4               1
#define LWIP_IPV6               0
#define LWIP_ARP                0
#define LWIP_ETHERNET           0
#define LWIP_ICMP               1
#define LWIP_RAW                0
#define LWIP_UDP                0
#define LWIP_DHCP               0
#define LWIP_DNS                0
#define LWIP_IGMP               0
#define LWIP_NETIF_LOOPBACK     0
#define LWIP_HAVE_LOOPIF        0
#define IP_REASSEMBLY           0
#define IP_FRAG                 0

#define LWIP_TCP                1
#define TCP_MSS                 1460
#define TCP_WND                 (4 * TCP_MSS)
#define TCP_SND_BUF             (4 * TCP_MSS)
#define TCP_LISTEN_BACKLOG      1
#define TCP_QUEUE_OOSEQ         1
/* TIME-WAIT lasts 2 * TCP_MSL: short, so the leak check at the end does
 * not need minutes of fake time */
#define TCP_MSL                 1000UL
#define SO_REUSE                1

/* statistics: the test compares every pool's "used" with its start */
#define LWIP_STATS              1
#define LWIP_STATS_DISPLAY      0
#define MEM_STATS               1
#define MEMP_STATS              1
#define TCP_STATS               1
#define LINK_STATS              1
#define IP_STATS                1

#endif
