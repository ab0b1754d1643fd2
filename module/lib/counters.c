/* SPDX-License-Identifier: MIT */
#include "counters.h"
#include "macro.h"

#define FIELD(name)                                         \
	{                                                   \
#name, offsetof(struct cell_counters, name) \
	}

const struct cell_counter_field cell_counter_fields[] = {
	FIELD(connects_allowed), FIELD(connects_denied), FIELD(udp_denied), FIELD(sockets_denied),
	FIELD(bytes_in),	 FIELD(bytes_out),	 FIELD(packets_in), FIELD(packets_out),
};

const size_t cell_counter_n_fields = ELEMENTSOF(cell_counter_fields);
