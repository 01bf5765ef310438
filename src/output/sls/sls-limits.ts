/*
 * The Log Service's request limits, defined once: the SLS sink refuses a batch over them, and
 * the configuration bounds delivery.maxBatchRecords / maxBatchBytes by them (config/schema.ts
 * imports this file, which imports nothing, so config does not reach into the output layer).
 */

/**
 * PutLogs limits, per the Log Service API reference "PutLogs"
 * (https://www.alibabacloud.com/help/en/log-service/latest/putlogs): "You can call the PutLogs
 * operation to write up to 3 MB log group data or 4,096 log entries at a time"; and the common
 * request headers page bounds x-log-bodyrawsize to 0..3145728. Newer pages allow 10 MB, but
 * older endpoints and SDKs enforce 3 MB, so 3 MB is the limit everywhere.
 */
export const PUT_LOGS_MAX_LOGS = 4096;
export const PUT_LOGS_MAX_RAW_BYTES = 3 * 1024 * 1024;
