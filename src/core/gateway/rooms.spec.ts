import { rooms } from './rooms';

describe('room names', () => {
  it('a separator inside an id cannot make two organisations share a user room', () => {
    expect(rooms.user('a:b', 'c')).not.toBe(rooms.user('a', 'b:c'));
    expect(rooms.user('a', 'b:c')).toBe('user:a:b%3Ac');
  });

  it('a separator inside an id cannot make two workspaces or named rooms share a room', () => {
    expect(rooms.workspace('a:b', 'c')).not.toBe(rooms.workspace('a', 'b:c'));
    expect(rooms.workspace('o', 'w:room:x')).not.toBe(rooms.workspace('o', 'w', 'x'));
    expect(rooms.workspace('o', 'w', 'desk:1')).not.toBe(rooms.workspace('o:w', 'room', 'desk:1'));
    expect(rooms.workspace('o', 'w:room', 'r')).not.toBe(rooms.workspace('o', 'w', 'room:r'));
  });

  it('every id of a tuple is kept distinct, and plain ids read as before', () => {
    const names = [
      rooms.organisation('a:b'),
      rooms.organisation('a'),
      rooms.organisationEvents('a:b'),
      rooms.user('a:b', 'c'),
      rooms.user('a', 'b:c'),
      rooms.user('a:b:c', ''),
      rooms.workspace('a:b', 'c'),
      rooms.workspace('a', 'b:c'),
      rooms.workspace('a', 'b', 'c'),
      rooms.workspace('a', 'b:room:c'),
    ];
    expect(new Set(names).size).toBe(names.length);
    expect(rooms.workspace('org_001', 'ws_finance', 'desk')).toBe('ws:org_001:ws_finance:room:desk');
    expect(rooms.user('org_001', 'usr_001')).toBe('user:org_001:usr_001');
  });
});
