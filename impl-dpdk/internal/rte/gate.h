// The gate between bursts and EAL's interrupt thread (gate.c says why).
void nm_data_enter(void);
void nm_data_leave(void);
void nm_ctl_enter(void);
void nm_ctl_leave(void);
// nm_gate_intr_waits counts the interrupt thread's epoll_waits that went
// through gate.c: 0 once EAL runs means the interposition is not linked in.
int nm_gate_intr_waits(void);
