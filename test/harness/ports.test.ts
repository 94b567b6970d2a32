import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { freeTcpPort, freeUdpPort } from './ports';

test('freeTcpPort hands out distinct ports that can be listened on', async () => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freeTcpPort()));
  expect(new Set(ports).size).toBe(ports.length);
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(ports[0], '127.0.0.1', resolve));
  expect((srv.address() as net.AddressInfo).port).toBe(ports[0]);
  await new Promise<void>((resolve) => srv.close(() => resolve()));
});

test('freeUdpPort hands out distinct ports free on UDP and TCP', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 20; i += 1) ports.push(await freeUdpPort());
  expect(new Set(ports).size).toBe(ports.length);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(ports[0], '127.0.0.1', resolve));
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(ports[0], '127.0.0.1', resolve));
  expect(sock.address().port).toBe(ports[0]);
  sock.close();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
});
