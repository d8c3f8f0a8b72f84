/*
 * The list of protocols, in detection order. Adding a protocol is one line
 * here plus its file: the X-macro generates the descriptor declarations, the
 * detection table (registry.c) and the test list (tests/unit).
 *
 * XX(name) -- `name` is the file name (src/protocols/name.c), the registry
 * key, the `decode --protocol` name and the descriptor td_proto_<name>.
 * Order matters only for speed: detectors are mutually exclusive, which
 * tests/unit/test_detect.c checks on every known frame.
 */
#ifndef TRACKD_REGISTRY_H
#define TRACKD_REGISTRY_H

#include "trackd/protocol.h"

#define TD_PROTOCOL_LIST(XX)                                                                       \
    XX(watch)     /* [SG*id*len*...] 3G/SG/CS/ZJ watches */                                        \
    XX(iw)        /* IWAP.. / TRV.. health bracelets (GOTOP L17) */                                \
    XX(gotop)     /* IMEI,CMD-T,... GOTOP TE-207 and other GOTOP trackers */                       \
    XX(jt808)     /* 0x7e JT/T 808 vehicle trackers, e-locks and cameras */                        \
    XX(h02)       /* *HQ,...# text and $ binary: Sinotrack and H02 clones */                       \
    XX(gt06)      /* 7878/7979 binary: Concox GT06/JM-VL01/X1/AT4 and clones */                    \
    XX(gps103)    /* imei:...; text: Coban GPS103/TK103/TK303 and clones */                        \
    XX(meitrack)  /* $$<flag><len>,IMEI,AAA/CCC/CCE: Meitrack MVT/T/P series */                    \
    XX(teltonika) /* 000F+IMEI, 00000000 AVL packets: Teltonika FMB/FMC/TMT/GH */                  \
    XX(tk103)     /* (id BP05 ...) text: TK103/KX402 vehicle trackers and clones */                \
    XX(osmand)    /* HTTP GET/POST: Traccar Client, OsmAnd and HTTP trackers */                    \
    XX(queclink)  /* +RESP:GT... @Track text and HEX: Queclink GL/GV/GB/GT trackers */             \
    XX(suntech)   /* ST300STT;... / STT;... text and zip: Suntech ST/SA trackers */

#define XX(name) extern const td_protocol td_proto_##name;
TD_PROTOCOL_LIST(XX)
#undef XX

#endif
