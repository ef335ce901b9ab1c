import java.util.*; import java.io.*; import java.nio.file.*;
// Reads hex-encoded inputs, one per line; prints "hex<TAB>result" where the
// result is ERROR or the sorted entries as keyhex:valuehex (UTF-16 units).
public class PropertiesCorpus { public static void main(String[] a) throws Exception {
  for (String line : Files.readAllLines(Paths.get(a[0]))) {
    byte[] b = new byte[line.length() / 2];
    for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(line.substring(2*i, 2*i+2), 16);
    Properties p = new Properties(); String out;
    try { p.load(new ByteArrayInputStream(b));
      TreeMap<String,String> m = new TreeMap<>(); for (String k : p.stringPropertyNames()) m.put(k, p.getProperty(k));
      StringBuilder sb = new StringBuilder();
      for (Map.Entry<String,String> e : m.entrySet()) { if (sb.length() > 0) sb.append(','); sb.append(u(e.getKey())).append(':').append(u(e.getValue())); }
      out = "OK " + sb;
    } catch (IllegalArgumentException e) { out = "ERROR"; }
    System.out.println(line + "\t" + out);
  } }
  static String u(String s) { StringBuilder b = new StringBuilder(); for (char c : s.toCharArray()) b.append(String.format("%04x", (int)c)); return b.toString(); }
}
