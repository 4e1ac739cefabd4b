/*
 * lwmail - the proleptic Gregorian calendar in day numbers (days since
 * 1970-01-01), for IMAP dates, SEARCH and certificates: one copy of the
 * arithmetic instead of one per user. The conversions are Howard
 * Hinnant's days_from_civil / civil_from_days, in 400-year eras.
 */
#include "util/lwm_util.h"

const char lwm_month_names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

int32_t lwm_days_from_civil(int32_t y, unsigned m, unsigned d)
{
    int32_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

void lwm_civil_from_days(int32_t z, int32_t *y, unsigned *m, unsigned *d)
{
    int32_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int32_t)yoe + era * 400 + (*m <= 2);
}

unsigned lwm_month_days(int32_t y, unsigned m)
{
    static const uint8_t md[12] = { 31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return md[m - 1] + (m == 2 && leap);
}

int lwm_month(const uint8_t *p)
{
    int m, k;
    for (m = 0; m < 12; m++) {
        for (k = 0; k < 3; k++)
            if ((p[k] | 0x20) != (lwm_month_names[3 * m + k] | 0x20))
                break;
        if (k == 3)
            return m + 1;
    }
    return 0;
}
