// expect: ok "shown"
export const meta = { name: 'hostile', description: 'an attack on the host' };
phase('\x1b[2J\x1b]52;c;aGk=\x07');
log('\x1b]8;;http://evil\x07click\x1b]8;;\x07\nodw: fake line');
return 'shown';
