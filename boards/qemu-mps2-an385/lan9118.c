/*
 * Polled driver for the SMSC LAN9118/LAN9220 Ethernet controller of the
 * MPS2 board (0x40200000), as an lwIP netif: a static address (QEMU's
 * user network: 10.0.2.15/24 via 10.0.2.2), or DHCP with
 * LWM_BOARD_DHCP=1 (cmake -DLWM_BOARD_DHCP=ON).
 *
 * The chip is a MAC+PHY with FIFOs behind a 256-byte register window:
 * frames are written to the TX data FIFO as "command A, command B, data
 * words" and read from the RX data FIFO after their status word has been
 * popped from the RX status FIFO. MAC registers are reached indirectly
 * through MAC_CSR_CMD/MAC_CSR_DATA, PHY registers through the MAC's
 * MII_ACC/MII_DATA.
 *
 * What QEMU's model (hw/net/lan9118.c) needs, beyond the datasheet:
 *  - any access to a register offset the model does not implement stops
 *    the emulator (hw_error): only the registers below are touched;
 *  - the RX status length counts the 4-byte FCS, which is in the FIFO
 *    after the frame and is dropped here;
 *  - "fast-forward" (RX_DP_CTRL) moves the read pointer without updating
 *    the FIFO fill count, which then never drains: frames to be thrown
 *    away are read out word by word instead;
 *  - the RX FIFO holds about 10 KB; a frame that does not fit is dropped
 *    by the model (TCP recovers; lwipopts.h keeps windows small).
 */
#include <string.h>

#include "board.h"
#include "board_int.h"

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "netif/ethernet.h"

/* ------------------------------------------------------------ registers */

#define LAN 0x40200000u
#define RX_DATA_FIFO REG32(LAN + 0x00)
#define TX_DATA_FIFO REG32(LAN + 0x20)
#define RX_STATUS_FIFO REG32(LAN + 0x40)
#define TX_STATUS_FIFO REG32(LAN + 0x48)
#define ID_REV REG32(LAN + 0x50)
#define IRQ_CFG REG32(LAN + 0x54)
#define INT_STS REG32(LAN + 0x58)
#define INT_EN REG32(LAN + 0x5C)
#define BYTE_TEST REG32(LAN + 0x64)
#define FIFO_INT REG32(LAN + 0x68)
#define RX_CFG REG32(LAN + 0x6C)
#define TX_CFG REG32(LAN + 0x70)
#define HW_CFG REG32(LAN + 0x74)
#define RX_FIFO_INF REG32(LAN + 0x7C)
#define TX_FIFO_INF REG32(LAN + 0x80)
#define PMT_CTRL REG32(LAN + 0x84)
#define MAC_CSR_CMD REG32(LAN + 0xA4)
#define MAC_CSR_DATA REG32(LAN + 0xA8)
#define AFC_CFG REG32(LAN + 0xAC)

#define BYTE_TEST_VALUE 0x87654321u
#define HW_CFG_SRST 0x00000001u
#define HW_CFG_TX_FIF_SZ_5K 0x00050000u
#define HW_CFG_MBO 0x00100000u        /* "must be one" */
#define PMT_CTRL_READY 0x00000001u
#define TX_CFG_TX_ON 0x00000002u
#define TX_CFG_TXSAO 0x00000004u      /* TX status may overrun */
#define RX_CFG_RXDOFF(n) ((uint32_t)(n) << 8)   /* bytes before a frame */
#define MAC_CSR_BUSY 0x80000000u
#define MAC_CSR_READ 0x40000000u

/* RX status word */
#define RXS_LEN(s) (((s) >> 16) & 0x3FFFu)
#define RXS_FILTER_FAIL 0x40000000u
#define RXS_ERROR 0x00008000u

/* TX command words */
#define TXA_FIRST 0x00002000u
#define TXA_LAST 0x00001000u
#define TXA_OFFSET(n) ((uint32_t)(n) << 16)

/* MAC registers (indices for MAC_CSR_CMD) */
#define MAC_CR 1
#define MAC_ADDRH 2
#define MAC_ADDRL 3
#define MAC_MII_ACC 6
#define MAC_MII_DATA 7
#define MAC_CR_FDPX 0x00100000u
#define MAC_CR_TXEN 0x00000008u
#define MAC_CR_RXEN 0x00000004u

/* PHY (internal, address 1) */
#define PHY_ADDR 1u
#define PHY_BCR 0
#define PHY_BSR 1
#define PHY_ID1 2
#define PHY_ID2 3
#define PHY_ANAR 4
#define PHY_BCR_ANENABLE 0x1000u
#define PHY_BCR_ANRESTART 0x0200u
#define PHY_BSR_LINK 0x0004u
#define PHY_ANAR_ALL 0x01E1u          /* 10/100, half/full, 802.3 */

#define ETH_FRAME_MAX 1514u           /* without FCS */
#define SPIN_LIMIT 100000u

/* Frame bounce buffers, word-aligned: the FIFOs move 32-bit words and
 * the pad bytes of ETH_PAD_SIZE line the IP header up with a word. */
static uint32_t rx_words[(ETH_PAD_SIZE + ETH_FRAME_MAX + 4 + 3) / 4];
static uint32_t tx_words[(ETH_PAD_SIZE + ETH_FRAME_MAX + 3) / 4];

static struct {
    uint32_t rx_frames, rx_dropped, rx_nobuf, tx_frames, tx_dropped;
    int link;
} nic;

/* ------------------------------------------------------------ MAC, PHY */

static int mac_wait(void)
{
    uint32_t n;

    for (n = 0; n < SPIN_LIMIT; n++)
        if (!(MAC_CSR_CMD & MAC_CSR_BUSY))
            return 0;
    return -1;
}

static uint32_t mac_read(unsigned reg)
{
    mac_wait();
    MAC_CSR_CMD = MAC_CSR_BUSY | MAC_CSR_READ | reg;
    mac_wait();
    return MAC_CSR_DATA;
}

static void mac_write(unsigned reg, uint32_t v)
{
    mac_wait();
    MAC_CSR_DATA = v;
    MAC_CSR_CMD = MAC_CSR_BUSY | reg;
    mac_wait();
}

/* MII_ACC: PHY address 15:11, register 10:6, bit 1 write, bit 0 busy */
static void mii_wait(void)
{
    uint32_t n;

    for (n = 0; n < SPIN_LIMIT && (mac_read(MAC_MII_ACC) & 1u); n++)
        ;
}

static uint16_t phy_read(unsigned reg)
{
    mii_wait();
    mac_write(MAC_MII_ACC, (PHY_ADDR << 11) | (reg << 6) | 1u);
    mii_wait();
    return (uint16_t)mac_read(MAC_MII_DATA);
}

static void phy_write(unsigned reg, uint16_t v)
{
    mii_wait();
    mac_write(MAC_MII_DATA, v);
    mac_write(MAC_MII_ACC, (PHY_ADDR << 11) | (reg << 6) | 2u | 1u);
    mii_wait();
}

/* ------------------------------------------------------------ transmit */

static err_t lan_output(struct netif *netif, struct pbuf *p)
{
    uint32_t len, words, i, free_bytes;

    (void)netif;
    /* p starts with ETH_PAD_SIZE bytes of padding: they are copied too
     * and skipped by the chip (the data start offset in command A) */
    if (p->tot_len < ETH_PAD_SIZE ||
        (uint32_t)p->tot_len - ETH_PAD_SIZE > ETH_FRAME_MAX) {
        nic.tx_dropped++;
        return ERR_IF;
    }
    len = p->tot_len - ETH_PAD_SIZE;
    words = (ETH_PAD_SIZE + len + 3) / 4;
    free_bytes = TX_FIFO_INF & 0xFFFFu;
    if (free_bytes < words * 4 + 8) {
        nic.tx_dropped++;
        return ERR_MEM;     /* TCP retransmits; nothing else queues */
    }
    pbuf_copy_partial(p, tx_words, p->tot_len, 0);
    TX_DATA_FIFO = TXA_FIRST | TXA_LAST | TXA_OFFSET(ETH_PAD_SIZE) | len;
    TX_DATA_FIFO = (nic.tx_frames << 16) | len;     /* tag | length */
    for (i = 0; i < words; i++)
        TX_DATA_FIFO = tx_words[i];
    nic.tx_frames++;
    return ERR_OK;
}

/* ------------------------------------------------------------ receive */

static void rx_discard(uint32_t words)
{
    while (words--)
        (void)RX_DATA_FIFO;
}

int board_net_poll(struct netif *netif)
{
    int handed = 0;
    uint32_t inf;

    /* transmit status: drained so the FIFO never fills */
    inf = TX_FIFO_INF;
    for (inf = (inf >> 16) & 0xFFu; inf; inf--)
        (void)TX_STATUS_FIFO;

    /* at most a FIFO's worth per call, so the loop stays responsive */
    while (handed < 16 && ((RX_FIFO_INF >> 16) & 0xFFu) != 0) {
        uint32_t status = RX_STATUS_FIFO;
        uint32_t len = RXS_LEN(status);          /* with the FCS */
        uint32_t words = (ETH_PAD_SIZE + len + 3) / 4;
        struct pbuf *p;
        uint32_t i;

        if ((status & (RXS_ERROR | RXS_FILTER_FAIL)) || len < 18 ||
            len > ETH_FRAME_MAX + 4) {
            rx_discard(words);
            nic.rx_dropped++;
            continue;
        }
        for (i = 0; i < words; i++)
            rx_words[i] = RX_DATA_FIFO;
        len -= 4;       /* the FCS */
        p = pbuf_alloc(PBUF_RAW, (u16_t)(len + ETH_PAD_SIZE), PBUF_POOL);
        if (p == NULL) {
            nic.rx_nobuf++;
            continue;
        }
        pbuf_take(p, rx_words, (u16_t)(len + ETH_PAD_SIZE));
        nic.rx_frames++;
        handed++;
        if (netif->input(p, netif) != ERR_OK)
            pbuf_free(p);
    }
    return handed;
}

/* ------------------------------------------------------------ init */

static err_t lan_netif_init(struct netif *netif)
{
    uint32_t hi, lo;

    hi = mac_read(MAC_ADDRH);
    lo = mac_read(MAC_ADDRL);
    netif->hwaddr[0] = (uint8_t)lo;
    netif->hwaddr[1] = (uint8_t)(lo >> 8);
    netif->hwaddr[2] = (uint8_t)(lo >> 16);
    netif->hwaddr[3] = (uint8_t)(lo >> 24);
    netif->hwaddr[4] = (uint8_t)hi;
    netif->hwaddr[5] = (uint8_t)(hi >> 8);
    if ((lo == 0 && (hi & 0xFFFFu) == 0) ||
        (lo == 0xFFFFFFFFu && (hi & 0xFFFFu) == 0xFFFFu)) {
        /* no EEPROM address: a fixed locally administered one */
        static const uint8_t la[6] = { 0x02, 0x00, 0x4C, 0x57, 0x4D, 0x01 };
        memcpy(netif->hwaddr, la, 6);
        mac_write(MAC_ADDRL, (uint32_t)la[0] | (uint32_t)la[1] << 8 |
                                 (uint32_t)la[2] << 16 |
                                 (uint32_t)la[3] << 24);
        mac_write(MAC_ADDRH, (uint32_t)la[4] | (uint32_t)la[5] << 8);
    }
    netif->hwaddr_len = 6;
    netif->mtu = 1500;
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
                   NETIF_FLAG_ETHERNET;
    netif->output = etharp_output;
    netif->linkoutput = lan_output;
    return ERR_OK;
}

int board_net_init(struct netif *netif)
{
    ip4_addr_t ip, mask, gw;
    uint32_t n, id;
    uint16_t bsr;

    if (BYTE_TEST != BYTE_TEST_VALUE) {
        board_printf("eth: no LAN9118 at 0x%08lx (BYTE_TEST %08lx)\r\n",
                     (unsigned long)LAN, (unsigned long)BYTE_TEST);
        return -1;
    }
    HW_CFG = HW_CFG_SRST;
    for (n = 0; n < SPIN_LIMIT && (HW_CFG & HW_CFG_SRST); n++)
        ;
    for (n = 0; n < SPIN_LIMIT && !(PMT_CTRL & PMT_CTRL_READY); n++)
        ;
    if ((HW_CFG & HW_CFG_SRST) || !(PMT_CTRL & PMT_CTRL_READY)) {
        board_printf("eth: controller does not come out of reset\r\n");
        return -1;
    }
    id = ID_REV;
    HW_CFG = HW_CFG_TX_FIF_SZ_5K | HW_CFG_MBO;
    /* flow control thresholds: the datasheet's recommended value */
    AFC_CFG = 0x006E3740u;
    IRQ_CFG = 0;            /* polled: no interrupt line */
    INT_EN = 0;
    INT_STS = 0xFFFFFFFFu;
    FIFO_INT = 0xFF000000u;
    RX_CFG = RX_CFG_RXDOFF(ETH_PAD_SIZE);
    TX_CFG = TX_CFG_TX_ON | TX_CFG_TXSAO;

    phy_write(PHY_ANAR, PHY_ANAR_ALL);
    phy_write(PHY_BCR, PHY_BCR_ANENABLE | PHY_BCR_ANRESTART);

    mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);

#if LWM_BOARD_DHCP
    /* the address comes from DHCP (QEMU's user network hands out
     * 10.0.2.15 too); main() waits for it */
    ip4_addr_set_zero(&ip);
    ip4_addr_set_zero(&mask);
    ip4_addr_set_zero(&gw);
#else
    IP4_ADDR(&ip, 10, 0, 2, 15);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 10, 0, 2, 2);
#endif
    if (netif_add(netif, &ip, &mask, &gw, NULL, lan_netif_init,
                  ethernet_input) == NULL) {
        board_printf("eth: netif_add failed\r\n");
        return -1;
    }
    netif_set_default(netif);
    netif_set_up(netif);
    bsr = phy_read(PHY_BSR);
    nic.link = (bsr & PHY_BSR_LINK) != 0;
    if (nic.link)
        netif_set_link_up(netif);
#if LWM_BOARD_DHCP
    if (dhcp_start(netif) != ERR_OK) {
        board_printf("eth: dhcp_start failed\r\n");
        return -1;
    }
#endif
    board_printf("eth: LAN%04lx rev %lu, PHY %04x:%04x, link %s, "
                 "mac %02x:%02x:%02x:%02x:%02x:%02x, %s\r\n",
                 (unsigned long)(id >> 16), (unsigned long)(id & 0xFFFFu),
                 phy_read(PHY_ID1), phy_read(PHY_ID2),
                 nic.link ? "up" : "down", netif->hwaddr[0],
                 netif->hwaddr[1], netif->hwaddr[2], netif->hwaddr[3],
                 netif->hwaddr[4], netif->hwaddr[5],
                 LWM_BOARD_DHCP ? "DHCP" : "ip 10.0.2.15/24 gw 10.0.2.2");
    return 0;
}

/* lwIP's clock (NO_SYS timers: sys_check_timeouts) */
u32_t sys_now(void)
{
    return board_ms();
}
