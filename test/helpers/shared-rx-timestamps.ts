import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Makes every packet socket on this host read the same receive time for a frame, for tests that
 * compare the daemon's capture with another capture of the same device (tcpdump's file).
 *
 * Why: unless some socket on the host has asked for receive timestamps, the kernel stamps a frame
 * for each packet socket as it hands it over (tpacket_rcv's ktime_get_real), so the daemon and
 * tcpdump see one frame microseconds apart: measured on a veth, 1,091 of 3,000 frames differed,
 * by up to 76 us. A frame that close to a second boundary lands in a different second for each,
 * and the records' start or end differ by one. While one socket has SO_TIMESTAMP set, the kernel
 * stamps each frame once as it is received (net_timestamp_check) and every tap reads that
 * stamp: 0 of 3,000 differed. The static key behind it is global, so a socket in any namespace
 * serves; it is released when the returned stop function ends the holder.
 */
export async function holdSharedRxTimestamps(): Promise<() => void> {
  // SO_TIMESTAMP is 29 on Linux (Python's socket module does not name it).
  const script =
    'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,29,1)\nprint("ready",flush=True)\ntime.sleep(600)';
  const holder: ChildProcess = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`hold receive timestamps: python3 exited ${code}`)));
    holder.stdout?.once('data', () => resolve());
  });
  // The kernel turns the stamping on from a work item, not inside setsockopt.
  await new Promise((r) => setTimeout(r, 200));
  return () => {
    holder.kill('SIGKILL');
  };
}
