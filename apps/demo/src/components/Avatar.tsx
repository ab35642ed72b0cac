/**
 * A round avatar with the person's initials, in a colour derived from their id, and an
 * optional status dot (online / away).
 */
const HUES = [210, 340, 150, 30, 270, 190, 0, 95];

function hueOf(id: string): number {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return HUES[h % HUES.length]!;
}

export function initialsOf(name: string): string {
  const parts = name.split(/[\s_-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0]![0]! + parts[1]![0]! : name.slice(0, 1);
  return letters.toUpperCase();
}

export function Avatar({ id, name, status, size = 'md' }: { id: string; name: string; status?: 'online' | 'away'; size?: 'sm' | 'md' }) {
  return (
    <span className={`avatar avatar-${size} hue-${hueOf(id)}`} aria-hidden="true">
      {initialsOf(name)}
      {status && <span className={`status-dot status-${status}`} />}
    </span>
  );
}
