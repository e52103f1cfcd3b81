/**
 * What a stored thing costs against storage.maxBytes beyond its body and payload: the row, its
 * index entries, and per delivery and attempt rows. Estimates, kept in each event's `bytes`.
 */
export const EVENT_OVERHEAD = 160;
export const DELIVERY_OVERHEAD = 64;
export const ATTEMPT_OVERHEAD = 96;
