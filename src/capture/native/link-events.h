/* Link events (link-events.c): registers linkWatchOpen / linkWatchClose on the addon's exports. */
#ifndef FLOWLOG_LINK_EVENTS_H
#define FLOWLOG_LINK_EVENTS_H
#include <node_api.h>

napi_status flowlog_link_events_init(napi_env env, napi_value exports);

#endif
